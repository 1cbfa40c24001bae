"""Retention: by age and by size, oldest first, counted per destination, never a crash."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from drivers import SqliteStore
from drivers.store_retention import Retention, used_bytes
from gateway.vocab import ChannelMeta, ReadingBatch, RecordKind, SinkBatch

CHANNELS = [ChannelMeta("a.x", "a", "x")]


def block(start: float, n: int) -> SinkBatch:
    ts = start + np.arange(n, dtype=np.float64)
    return SinkBatch(ReadingBatch(ts, np.zeros(n, np.int32), ts.copy(), np.zeros(n, np.uint8)))


async def test_age_limit_evicts_the_oldest_and_counts_the_unsent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = 1_000_000.0
    retention = Retention(max_age_s=100.0, max_bytes=None, delete_rows_per_step=7)
    store = SqliteStore(
        tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"], retention=retention, clock=lambda: now
    )
    async with store:
        await store.append([block(now - 300, 150)])  # 150 readings from 300 s to 151 s ago
        await store.append([block(now - 150, 150)])  # the newest: 150 s ago to now
        caplog.set_level(logging.WARNING)
        report = await store.enforce_retention()
        # Everything before now - 100 goes: 200 readings, oldest first.
        assert report.evicted == 200
        assert report.unsent_by_destination["up"] == 200
        assert store.counters.evicted == 200 and store.counters.evicted_unsent["up"] == 200
        back = await store.backlog("up", RecordKind.READINGS, 0, 100)
        kept = np.concatenate([c.ts for c in back])
        assert kept.min() >= now - 100 and len(kept) == 100
        assert (await store.pending("up")).records == 100
        assert any("evicted 200 oldest" in r.getMessage() for r in caplog.records)
        # A second pass finds nothing more to do.
        assert (await store.enforce_retention()).evicted == 0


async def test_size_limit_keeps_the_store_under_its_bound(tmp_path: Path) -> None:
    retention = Retention(max_age_s=None, max_bytes=600_000)
    store = SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"], retention=retention)
    async with store:
        evicted = 0
        for i in range(20):  # bounded: 20 writes of 5,000 readings, far over the bound
            await store.append([block(i * 5000.0, 5000)])
            evicted += (await store.enforce_retention()).evicted
        assert evicted > 0 and store.counters.evicted == evicted
        used = await store._run(lambda: used_bytes(store._conn()))
        assert used <= 600_000
        # The newest readings are all there; what went were the oldest.
        back = await store.backlog("up", RecordKind.READINGS, 0, 1000, max_records=200_000)
        seq = np.concatenate([c.seq for c in back])
        assert seq.max() == 100_000
        assert np.array_equal(seq, np.arange(seq.min(), 100_001))
        assert (await store.pending("up")).records == len(seq)
        assert store.counters.evicted_unsent["up"] == 100_000 - len(seq)


async def test_eviction_after_acknowledgement_counts_nothing_unsent(tmp_path: Path) -> None:
    now = 10_000.0
    retention = Retention(max_age_s=10.0, max_bytes=None)
    store = SqliteStore(
        tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"], retention=retention, clock=lambda: now
    )
    async with store:
        live = await store.append([block(now - 100, 50)])
        await store.acknowledge("up", [c.segment for c in live["up"]])
        report = await store.enforce_retention()
        assert report.evicted == 50 and report.unsent_by_destination["up"] == 0
