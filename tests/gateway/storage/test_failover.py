"""The store failover: a live path from the first failed write, the red alarm only once failing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import pytest

from gateway.storage import failover as failover_module
from gateway.storage.failover import StoreFailover
from gateway.vocab import AlarmEvent, ReadingBatch, SourceBatch
from tests.support import eventually


@dataclass
class FakeStore:
    retrying: bool = False
    failing: bool = False
    last_error: str | None = None


class LiveSource:
    """Yields one reading every 10 ms while iterated; counts the subscriptions (iterations)."""

    name = "live"

    def __init__(self) -> None:
        self.subscribed = 0
        self.running = 0

    async def batches(self) -> AsyncIterator[SourceBatch]:
        self.subscribed += 1
        self.running += 1
        try:
            n = 0
            while True:
                n += 1
                yield SourceBatch(ReadingBatch.from_lists([float(n)], [0], [1.0], [0]))
                await asyncio.sleep(0.01)
        finally:
            self.running -= 1


@pytest.fixture(autouse=True)
def quick_recovery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failover_module, "RECOVERED_AFTER_S", 0.2)


async def started(store: FakeStore) -> tuple[StoreFailover, LiveSource, list[ReadingBatch], list[AlarmEvent]]:
    source = LiveSource()
    judged: list[ReadingBatch] = []
    alarms: list[AlarmEvent] = []

    async def submit_live(batch: ReadingBatch) -> None:
        judged.append(batch)

    failover = StoreFailover("s1", store, lambda: [source], submit_live, alarms.extend)
    return failover, source, judged, alarms


async def test_the_live_path_starts_at_the_first_failed_write_before_the_alarm() -> None:
    store = FakeStore(retrying=True, last_error="disk I/O error")
    failover, source, judged, alarms = await started(store)
    task = asyncio.create_task(failover.run())
    try:
        await eventually(lambda: len(judged) >= 3, 5, "live readings judged")
        assert failover.live and not failover.active and not alarms  # not called failing yet
        store.failing = True
        await eventually(lambda: bool(alarms), 5, "the red alarm")
        assert [(a.channel, a.state, a.grade) for a in alarms] == [("gateway.store", "raised", 3)]
        assert failover.health()["live_path"] is True
        store.retrying = store.failing = False
        await eventually(lambda: not failover.live, 5, "the live path stopped once recovered")
        assert [a.state for a in alarms] == ["raised", "cleared"]
        assert source.subscribed == 1 and source.running == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_short_failure_runs_the_live_path_but_raises_nothing() -> None:
    store = FakeStore(retrying=True, last_error="database is locked")
    failover, source, judged, alarms = await started(store)
    task = asyncio.create_task(failover.run())
    try:
        await eventually(lambda: bool(judged), 5, "live readings judged")
        store.retrying = False  # written on a retry, before the store was called failing
        await eventually(lambda: not failover.live, 5, "the live path stopped")
        assert not alarms and failover.episodes == 0
        assert source.running == 0
        assert np.all(np.concatenate([b.value for b in judged]) == 1.0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
