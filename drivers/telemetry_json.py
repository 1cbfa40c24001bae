"""The platform's ``…/telemetry`` message: one chunk of readings as JSON.

```json
{"id": "site1-readings-101-300", "site": "site1", "first_seq": 101, "last_seq": 300, "live": true,
 "readings": [{"seq": 101, "ts": "2026-11-21T08:00:00.250Z", "channel": "crane1.load",
               "value": 3.25, "quality": 0}, ...]}
```

``id`` is the same every time the chunk is sent; ``seq`` identifies each reading, so a consumer
drops duplicates by ``(site, seq)``. ``value`` is null for an unusable reading; ``quality`` holds
the flags (0 good, 1 time estimated, 16 comm failure, 32 bad value, 64 out of range).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np

from gateway.vocab import ChannelMeta, ForwardChunk


def encode_readings(chunk: ForwardChunk, channels: Sequence[ChannelMeta]) -> bytes:
    # Channel ids, site ids and ISO stamps hold no character JSON must escape (the config's id
    # patterns), so the records are formatted directly: several times faster than json.dumps.
    stamps = np.datetime_as_string((chunk.ts * 1000).astype("datetime64[ms]"), unit="ms", timezone="UTC")
    names = [c.id for c in channels]
    values = [repr(v) if math.isfinite(v) else "null" for v in chunk.value.tolist()]
    records = ",".join(
        f'{{"seq":{s},"ts":"{t}","channel":"{names[c]}","value":{v},"quality":{q}}}'
        for s, t, c, v, q in zip(
            chunk.seq.tolist(),
            stamps.tolist(),
            chunk.channel.tolist(),
            values,
            chunk.quality.tolist(),
            strict=True,
        )
    )
    head = json.dumps(
        {
            "id": chunk.id,
            "site": chunk.site,
            "first_seq": int(chunk.seq[0]) if len(chunk) else None,
            "last_seq": int(chunk.seq[-1]) if len(chunk) else None,
            "live": chunk.live,
        },
        separators=(",", ":"),
    )
    return f'{head[:-1]},"readings":[{records}]}}'.encode()
