"""Resident memory of the core or of the baseline with full windows, measured in a fresh process.

``python -m smartsite.bench.memory core|baseline CHANNELS WINDOW_S KINDS`` feeds WINDOW_S seconds of
1 Hz readings to CHANNELS channels (value, rate and quality rules, as far as KINDS has them) and
prints ``{"rss_mb": ..., "peak_mb": ...}``.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def _status_mb(key: str) -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main(argv: list[str]) -> int:
    side, n_text, window_text, kinds_text = argv
    # Both sides import the same modules, so the interpreter's fixed share is the same.
    from gateway.site import Site
    from smartsite.bench.baseline import BaselineSite
    from smartsite.bench.data import T0, bench_site, channel_ids, series
    from smartsite.bench.figures import stream_rules

    imports_mb = _status_mb("VmRSS")

    n, window_s = int(n_text), int(window_text)
    rules = stream_rules(set(kinds_text.split(",")))
    batch_s = 30
    if side == "core":
        engine, book = Site(bench_site(n, rules)).analytics()
        columns = np.arange(n, dtype=np.int32)
        for start in range(0, window_s, batch_s):
            tick = np.arange(start, min(window_s, start + batch_s), dtype=np.int64)
            ts = np.repeat(T0 + tick.astype(np.float64), n)
            values = series(tick, n, 1.0).reshape(-1)
            result = engine.process(ts, np.tile(columns, len(tick)), values, np.zeros(ts.size, np.uint8))
            book.apply(result.transitions)
    elif side == "baseline":
        ids = channel_ids(n)
        base = BaselineSite(ids, rules)
        for start in range(0, window_s, batch_s):
            tick = np.arange(start, min(window_s, start + batch_s), dtype=np.int64)
            values = series(tick, n, 1.0).tolist()
            for row, k in enumerate(tick.tolist()):
                base.process(zip([T0 + k] * n, ids, values[row], strict=True))
    else:
        print(f"unknown side {side!r}", file=sys.stderr)
        return 2
    rss, peak = _status_mb("VmRSS"), _status_mb("VmHWM")
    print(
        json.dumps({"rss_mb": round(rss, 1), "peak_mb": round(peak, 1), "imports_mb": round(imports_mb, 1)})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
