"""`store.readings` is what the file holds (across a restart, after eviction, with duplicates);
the since-start figure is reported under its own name."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drivers import SqliteStore
from drivers.store_retention import Retention
from gateway.vocab import ChannelMeta, ReadingBatch, SinkBatch

CHANNELS = [ChannelMeta("a.x", "a", "x")]


def block(start: float, n: int) -> SinkBatch:
    ts = start + np.arange(n, dtype=np.float64)
    return SinkBatch(ReadingBatch(ts, np.zeros(n, np.int32), ts.copy(), np.zeros(n, np.uint8)))


async def test_held_count_survives_restart_and_follows_eviction(tmp_path: Path) -> None:
    now = 1_000_000.0
    retention = Retention(max_age_s=100.0, max_bytes=None, delete_rows_per_step=7)

    def open_store() -> SqliteStore:
        return SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", retention=retention, clock=lambda: now)

    async with open_store() as store:
        await store.append([block(now - 300, 150)])
        await store.append([block(now - 160, 60)])  # 10 of these repeat stored times: ignored
        assert store.stats()["readings"] == 200 == await store.count("readings")
        assert store.stats()["readings_written_since_start"] == 200

    async with open_store() as store:
        # A new process: nothing written yet, but the file still holds 200.
        assert store.stats()["readings"] == 200
        assert store.stats()["readings_written_since_start"] == 0
        await store.append([block(now - 50, 30)])
        assert store.stats()["readings"] == 230
        report = await store.enforce_retention()  # everything older than now - 100 goes
        assert report.evicted == report.evicted_readings == 200
        assert store.stats()["readings"] == 30 == await store.count("readings")
        assert store.stats()["readings_written_since_start"] == 30
