"""Line protocol encoding: readings/s of drivers/line_protocol.py against influxdb-client Points.

Run: .venv/bin/python benchmarks/influx_encode.py [--readings N] [--channels C]

Both encode the same readings (2 % of them bad, with NaN values) into the same layout; the baseline
builds one ``influxdb_client.Point`` per reading and calls ``to_line_protocol()``, as a sink written
the obvious way would. Also printed: what gzip costs per request (the library compresses each body
at level 9, inside the event loop).
"""

from __future__ import annotations

import argparse
import gzip
import math
import sys
import time
from collections.abc import Callable

import numpy as np
from influxdb_client import Point, WritePrecision

from drivers.line_protocol import ReadingEncoder, epoch_ms
from gateway.vocab import ChannelMeta


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--request", type=int, default=5000, help="lines per request for the gzip figure")
    args = parser.parse_args(argv)
    n = args.readings

    channels = [
        ChannelMeta(f"tc{i // 8}.ch{i}", f"tc{i // 8}-plc", "load", "t") for i in range(args.channels)
    ]
    rng = np.random.default_rng(7)
    seq = np.arange(1, n + 1, dtype=np.int64)
    ts = 1_700_000_000.0 + np.arange(n) * 0.01
    channel = rng.integers(0, len(channels), n).astype(np.int32)
    value = rng.normal(10.0, 3.0, n)
    quality = np.zeros(n, np.uint8)
    value[::50] = np.nan
    quality[::50] = 0x20

    encoder = ReadingEncoder("site-7", channels, {"gateway": "gw-1"})
    ours_s = best_of(3, lambda: encoder.encode(seq, ts, channel, value, quality))
    lines = encoder.encode(seq, ts, channel, value, quality).lines

    def baseline() -> list[str]:
        out = []
        ms = epoch_ms(ts)
        for i in range(n):
            meta = channels[int(channel[i])]
            point = (
                Point("reading")
                .tag("site", "site-7")
                .tag("device", meta.device)
                .tag("channel", meta.id)
                .tag("quantity", meta.quantity)
                .tag("gateway", "gw-1")
                .field("quality", int(quality[i]))
                .field("seq", int(seq[i]))
                .time(int(ms[i]), WritePrecision.MS)
            )
            v = float(value[i])
            if math.isfinite(v):
                point.field("value", v)
            out.append(point.to_line_protocol())
        return out

    base_s = best_of(1, baseline)
    body = "\n".join(lines[: args.request]).encode()
    gzip_s = best_of(3, lambda: gzip.compress(body))
    gzip_fast_s = best_of(3, lambda: gzip.compress(body, compresslevel=1))

    print(f"readings: {n:,} over {len(channels)} channels")
    print(f"line_protocol.ReadingEncoder: {n / ours_s:,.0f} readings/s ({ours_s * 1000:.1f} ms)")
    print(f"influxdb_client.Point baseline: {n / base_s:,.0f} readings/s ({base_s * 1000:.1f} ms)")
    print(f"ratio: {base_s / ours_s:.1f}x")
    print(
        f"gzip of one {args.request}-line request ({len(body) / 1e6:.2f} MB): "
        f"{gzip_s * 1000:.1f} ms at level 9 (the library's), {gzip_fast_s * 1000:.1f} ms at level 1, "
        f"{len(gzip.compress(body)) / len(body):.1%} of the size"
    )
    return 0


def best_of(runs: int, work: Callable[[], object]) -> float:
    best = math.inf
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
