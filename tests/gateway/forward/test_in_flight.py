"""Several readings messages in flight at once; alarm events one at a time; the alarm's wait kept."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from types import TracebackType

import numpy as np
import pytest

from drivers import SqliteStore
from gateway.forward import Forwarder, ForwardStats
from gateway.forward import merge as merge_module
from gateway.vocab import (
    AlarmEvent,
    ChannelMeta,
    Delivery,
    ForwardChunk,
    ReadingBatch,
    RecordKind,
    RetryableSinkError,
    SinkBatch,
)
from tests.support import eventually

CHANNELS = [ChannelMeta("a.x", "a", "x")]


class SlowDestination:
    """Answers each send only when ``gate`` opens; counts how many sends run at once, per kind."""

    def __init__(self) -> None:
        self.name = "up"
        self.gate = asyncio.Event()
        self.up = True
        self.running = {RecordKind.READINGS: 0, RecordKind.EVENTS: 0}
        self.most = {RecordKind.READINGS: 0, RecordKind.EVENTS: 0}
        self.got: list[ForwardChunk] = []

    async def __aenter__(self) -> SlowDestination:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def send(self, chunk: ForwardChunk) -> Delivery:
        self.running[chunk.kind] += 1
        self.most[chunk.kind] = max(self.most[chunk.kind], self.running[chunk.kind])
        try:
            await self.gate.wait()
            if not self.up:
                raise RetryableSinkError(self.name, "connection refused")
            self.got.append(chunk)
            return Delivery()
        finally:
            self.running[chunk.kind] -= 1

    def seqs(self, kind: str = RecordKind.READINGS) -> list[int]:
        return sorted(int(s) for c in self.got if c.kind == kind for s in c.seq)


def block(start: float, n: int) -> SinkBatch:
    ts = start + np.arange(n, dtype=np.float64)
    return SinkBatch(ReadingBatch(ts, np.zeros(n, np.int32), ts.copy(), np.zeros(n, np.uint8)))


def alarm(ts: float, state: str = "raised") -> AlarmEvent:
    return AlarmEvent("s1", ts, "a.x", "r", 2, state, 1.0, 0.5, "mm", "m", "A1")


@pytest.fixture(autouse=True)
def one_chunk_per_message(monkeypatch: pytest.MonkeyPatch) -> None:
    # Chunks of 10 readings would be merged into one message: keep them apart to count messages.
    monkeypatch.setattr(merge_module, "MAX_READINGS", 10)
    monkeypatch.setattr(merge_module, "MAX_DOCUMENTS", 1)


async def queue(store: SqliteStore, forwarder: Forwarder, batches: list[SinkBatch]) -> None:
    for batch in batches:
        for chunk in (await store.append([batch]))["up"]:
            forwarder.offer(chunk)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_readings_go_several_at_once_up_to_the_destinations_window(tmp_path: Path) -> None:
    dest = SlowDestination()
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"]) as store:
        forwarder = Forwarder(dest, store, ForwardStats("up", "fake"), backlog_rate=None, in_flight=3)
        await queue(store, forwarder, [block(i * 10.0, 10) for i in range(8)])
        task = asyncio.create_task(forwarder.run())
        await eventually(lambda: dest.running[RecordKind.READINGS] == 3, 5, "three sends waiting")
        await asyncio.sleep(0.1)  # no fourth starts while three wait
        assert dest.running[RecordKind.READINGS] == 3
        dest.gate.set()
        await eventually(lambda: forwarder.stats.sent == 80, 5, "all sent")
        await eventually(lambda: forwarder.stats.queue_depth == 0, 5, "queue drained")
        await stop(task)
    assert dest.most[RecordKind.READINGS] == 3
    assert dest.seqs() == list(range(1, 81))
    assert forwarder.stats.sent_messages == 8


async def test_one_at_a_time_stays_one_at_a_time(tmp_path: Path) -> None:
    dest = SlowDestination()
    dest.gate.set()
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"]) as store:
        forwarder = Forwarder(dest, store, ForwardStats("up", "fake"), backlog_rate=None)
        await queue(store, forwarder, [block(i * 10.0, 10) for i in range(5)])
        task = asyncio.create_task(forwarder.run())
        await eventually(lambda: forwarder.stats.sent == 50, 5, "all sent")
        await stop(task)
    assert dest.most[RecordKind.READINGS] == 1


async def test_alarm_events_keep_their_order_while_readings_are_in_flight(tmp_path: Path) -> None:
    dest = SlowDestination()
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"]) as store:
        forwarder = Forwarder(dest, store, ForwardStats("up", "fake"), backlog_rate=None, in_flight=4)
        events = [
            SinkBatch(ReadingBatch.empty(), events=[alarm(float(t), s)])
            for t, s in enumerate(["raised", "cleared", "raised"])
        ]
        await queue(store, forwarder, [block(i * 10.0, 10) for i in range(3)] + events)
        task = asyncio.create_task(forwarder.run())
        await eventually(lambda: dest.running[RecordKind.EVENTS] == 1, 5, "an event in flight")
        await asyncio.sleep(0.1)
        assert dest.running[RecordKind.EVENTS] == 1  # the next event waits for this one
        dest.gate.set()
        await eventually(lambda: forwarder.stats.sent == 33, 5, "all sent")
        await stop(task)
    assert dest.most[RecordKind.EVENTS] == 1
    sent_events = [c.documents[0] for c in dest.got if c.kind == RecordKind.EVENTS]
    assert [json.loads(e)["state"] for e in sent_events] == ["raised", "cleared", "raised"]


async def test_the_wait_of_an_alarm_from_store_to_acknowledgement_is_kept(tmp_path: Path) -> None:
    dest = SlowDestination()
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"]) as store:
        forwarder = Forwarder(dest, store, ForwardStats("up", "fake"), backlog_rate=None, in_flight=4)
        stored_at = time.monotonic() - 0.5  # handed to the store half a second ago
        for chunk in (await store.append([SinkBatch(ReadingBatch.empty(), events=[alarm(1.0)])]))["up"]:
            forwarder.offer(chunk, stored_at=stored_at)
        task = asyncio.create_task(forwarder.run())
        assert forwarder.stats.alarm_wait_s is None  # nothing acknowledged yet
        dest.gate.set()
        await eventually(lambda: forwarder.stats.alarm_wait_s is not None, 5, "the event acknowledged")
        await stop(task)
    wait = forwarder.stats.alarm_wait_s
    assert wait is not None and 0.5 <= wait < 5.0
    assert forwarder.stats.alarm_wait_max_s == wait
    assert forwarder.stats.as_dict()["alarm_wait_s"] == wait


async def test_sends_in_flight_when_stopped_are_sent_again_by_the_next_forwarder(tmp_path: Path) -> None:
    dest = SlowDestination()
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"]) as store:
        first = Forwarder(dest, store, ForwardStats("up", "fake"), backlog_rate=None, in_flight=4)
        await queue(store, first, [block(i * 10.0, 10) for i in range(6)])
        task = asyncio.create_task(first.run())
        await eventually(lambda: dest.running[RecordKind.READINGS] == 4, 5, "four in flight")
        await stop(task)  # a restart with four messages unanswered
        assert dest.running[RecordKind.READINGS] == 0 and not dest.got
        dest.gate.set()
        second = Forwarder(dest, store, ForwardStats("up", "fake"), backlog_rate=None, in_flight=4)
        task = asyncio.create_task(second.run())
        await eventually(lambda: second.stats.sent == 60, 5, "all sent from the backlog")
        await stop(task)
        assert (await store.pending("up")).records == 0
    assert dest.seqs() == list(range(1, 61))


async def test_an_outage_with_sends_in_flight_loses_nothing(tmp_path: Path) -> None:
    dest = SlowDestination()
    dest.up = False
    dest.gate.set()
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"]) as store:
        forwarder = Forwarder(dest, store, ForwardStats("up", "fake"), backlog_rate=None, in_flight=4)
        await queue(store, forwarder, [block(i * 10.0, 10) for i in range(6)])
        task = asyncio.create_task(forwarder.run())
        await eventually(lambda: forwarder.stats.failed >= 40, 5, "four sends failing")
        dest.up = True
        await eventually(lambda: forwarder.stats.sent == 60, 10, "all sent after the outage")
        await eventually(lambda: forwarder.stats.queue_depth == 0, 5, "queue drained")
        await stop(task)
    assert dest.seqs() == list(range(1, 61))
