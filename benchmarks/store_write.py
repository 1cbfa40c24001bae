"""Benchmark: the local store's write, CPU per reading stored, as the intake writes at 50,000 readings/s.

Each write is what the store writer hands the store at that rate: 2,500 readings spread over 1,000
channels (200 devices x 5 quantities), newer than the last, into a file that grows to
``--writes`` x 2,500 readings; the real ``SqliteStore`` with one forwarding destination, FULL sync.

Baseline in the same run: the same store with SQLite's default temporary storage, where each
write's statement journal (one page per channel written) went to a temporary file. Both stores
run alternately, one write each in turn, so the machine's noise falls on both alike.

    .venv/bin/python benchmarks/store_write.py [--writes 600] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.sqlite_store import SqliteStore  # noqa: E402
from gateway.vocab import ReadingBatch, SinkBatch  # noqa: E402

CHANNELS = [f"d{d}.q{q}" for d in range(200) for q in range(5)]
READINGS_PER_WRITE = 2500
WARM_WRITES = 50  # left out: the first writes grow an empty file


def write_batch(rng: np.random.Generator, n: int) -> SinkBatch:
    start = 1.7e9 + n * 0.05  # each write 50 ms of readings later than the one before
    return SinkBatch(
        ReadingBatch(
            ts=start + np.arange(READINGS_PER_WRITE) * (0.05 / READINGS_PER_WRITE),
            channel=rng.integers(0, len(CHANNELS), READINGS_PER_WRITE).astype(np.int32),
            value=np.round(rng.normal(0.0, 100.0, READINGS_PER_WRITE), 3),
            quality=np.zeros(READINGS_PER_WRITE, np.uint8),
        )
    )


async def timed_write(store: SqliteStore, batch: SinkBatch) -> tuple[float, float]:
    """(CPU, wall) seconds of one write, both measured on the store's own thread."""

    def cpu_clock(_db: object) -> float:
        return time.thread_time()

    before = await store.call(cpu_clock)
    wall = time.perf_counter()
    await store.append([batch])
    wall = time.perf_counter() - wall
    return await store.call(cpu_clock) - before, wall


async def run(writes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="store-write-") as tmp:
        stores = {
            "this_tree": SqliteStore(Path(tmp) / "now.db", CHANNELS, destinations=["mqtt"]),
            "baseline": SqliteStore(Path(tmp) / "base.db", CHANNELS, destinations=["mqtt"]),
        }
        cpu = {name: 0.0 for name in stores}
        wall = {name: 0.0 for name in stores}
        async with stores["this_tree"], stores["baseline"]:
            await stores["baseline"].call(lambda db: db.execute("PRAGMA temp_store=DEFAULT").fetchall())
            rng = np.random.default_rng(7)
            for n in range(writes):
                batch = write_batch(rng, n)
                for name, store in stores.items():
                    c, w = await timed_write(store, batch)
                    if n >= WARM_WRITES:
                        cpu[name] += c
                        wall[name] += w
    stored = (writes - WARM_WRITES) * READINGS_PER_WRITE
    figures = {f"{name}_cpu_us_per_reading": round(cpu[name] / stored * 1e6, 2) for name in stores}
    figures |= {f"{name}_wall_us_per_reading": round(wall[name] / stored * 1e6, 2) for name in stores}
    figures["cpu_ratio_baseline_over_this_tree"] = round(cpu["baseline"] / cpu["this_tree"], 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=600)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.writes <= WARM_WRITES:
        parser.error(f"--writes must be more than {WARM_WRITES}")
    figures = asyncio.run(run(args.writes))
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"  {key:40} {value}")


if __name__ == "__main__":
    main()
