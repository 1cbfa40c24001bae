"""Consecutive queued chunks of one kind sent as one message, so throughput is not one small
message per round trip when the far side is slow to answer (4G) or the queue is behind."""

from __future__ import annotations

from collections import deque

import numpy as np

from gateway.vocab import ForwardChunk, RecordKind

MAX_READINGS = 2000  # per message: one telemetry message or one InfluxDB request
MAX_DOCUMENTS = 200  # alarm events or cycles per send (each is its own MQTT message anyway)


def take_merged(queue: deque[ForwardChunk]) -> ForwardChunk:
    """Pop the first chunk and the ones after it that fit with it; return them as one chunk.

    The result names every segment it covers (``segment`` and ``also``), so acknowledging it
    clears them all. Its ``id`` spans its first and last ``seq``: stable while the same chunks are
    retried; consumers drop duplicates by each record's ``seq`` or ``id`` in any case.
    """
    first = queue.popleft()
    limit = MAX_READINGS if first.kind == RecordKind.READINGS else MAX_DOCUMENTS
    parts = [first]
    size = len(first)
    while queue and size + len(queue[0]) <= limit:
        size += len(queue[0])
        parts.append(queue.popleft())
    if len(parts) == 1:
        return first
    seq = np.concatenate([p.seq for p in parts])
    first_seq, last_seq = (int(seq[0]), int(seq[-1])) if len(seq) else (0, 0)
    return ForwardChunk(
        id=f"{first.site}-{first.kind}-{first_seq}-{last_seq}",
        site=first.site,
        kind=first.kind,
        segment=first.segment,
        also=tuple(s for p in parts for s in (p.segment, *p.also))[1:],
        seq=seq,
        ts=np.concatenate([p.ts for p in parts]),
        channel=np.concatenate([p.channel for p in parts]),
        value=np.concatenate([p.value for p in parts]),
        quality=np.concatenate([p.quality for p in parts]),
        documents=tuple(d for p in parts for d in p.documents),
        live=first.live,
    )
