"""Several readings messages in flight at once; alarm events one at a time; the alarm's wait kept."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from drivers import SqliteStore
from gateway.forward import Forwarder, ForwardStats
from gateway.forward import merge as merge_module
from gateway.vocab import (
    AlarmEvent,
    Delivery,
    ForwardChunk,
    ReadingBatch,
    RecordKind,
    SinkBatch,
)
from tests.gateway.forward.test_forwarder import CHANNELS, FakeDestination, block, stop
from tests.support import eventually


class SlowDestination(FakeDestination):
    """Answers each send only when ``gate`` opens; counts how many sends run at once, per kind."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.running = {RecordKind.READINGS: 0, RecordKind.EVENTS: 0}
        self.most = {RecordKind.READINGS: 0, RecordKind.EVENTS: 0}
        self.tried: set[int] = set()  # first seq of each chunk attempted

    async def send(self, chunk: ForwardChunk) -> Delivery:
        self.running[chunk.kind] += 1
        self.most[chunk.kind] = max(self.most[chunk.kind], self.running[chunk.kind])
        self.tried.add(int(chunk.seq[0]))
        try:
            await self.gate.wait()
            return await super().send(chunk)
        finally:
            self.running[chunk.kind] -= 1

    def kind_seqs(self, kind: str = RecordKind.READINGS) -> list[int]:
        return sorted(int(s) for c in self.got if c.kind == kind for s in c.seq)


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


@asynccontextmanager
async def sending(
    dest: SlowDestination, path: Path, batches: list[SinkBatch], in_flight: int = 4
) -> AsyncIterator[tuple[Forwarder, SqliteStore, asyncio.Task[None]]]:
    """A store with ``batches`` queued and offered live, and its forwarder running."""
    async with SqliteStore(path, CHANNELS, site="s1", destinations=["up"]) as store:
        forwarder = Forwarder(dest, store, ForwardStats("up", "fake"), backlog_rate=None, in_flight=in_flight)
        await queue(store, forwarder, batches)
        task = asyncio.create_task(forwarder.run())
        yield forwarder, store, task
        if not task.done():
            await stop(task)


def readings(n: int) -> list[SinkBatch]:
    return [block(i * 10.0, 10) for i in range(n)]


async def test_readings_go_several_at_once_up_to_the_destinations_window(tmp_path: Path) -> None:
    dest = SlowDestination()
    async with sending(dest, tmp_path / "s.db", readings(8), in_flight=3) as (forwarder, _, _):
        await eventually(lambda: dest.running[RecordKind.READINGS] == 3, 5, "three sends waiting")
        await asyncio.sleep(0.1)  # no fourth starts while three wait
        assert dest.running[RecordKind.READINGS] == 3
        dest.gate.set()
        await eventually(lambda: forwarder.stats.sent == 80, 5, "all sent")
        await eventually(lambda: forwarder.stats.queue_depth == 0, 5, "queue drained")
    assert dest.most[RecordKind.READINGS] == 3
    assert dest.kind_seqs() == list(range(1, 81))
    assert forwarder.stats.sent_messages == 8


async def test_one_at_a_time_stays_one_at_a_time(tmp_path: Path) -> None:
    dest = SlowDestination()
    dest.gate.set()
    async with sending(dest, tmp_path / "s.db", readings(5), in_flight=1) as (forwarder, _, _):
        await eventually(lambda: forwarder.stats.sent == 50, 5, "all sent")
    assert dest.most[RecordKind.READINGS] == 1


async def test_alarm_events_keep_their_order_while_readings_are_in_flight(tmp_path: Path) -> None:
    dest = SlowDestination()
    events = [
        SinkBatch(ReadingBatch.empty(), events=[alarm(float(t), s)])
        for t, s in enumerate(["raised", "cleared", "raised"])
    ]
    async with sending(dest, tmp_path / "s.db", readings(3) + events) as (forwarder, _, _):
        await eventually(lambda: dest.running[RecordKind.EVENTS] == 1, 5, "an event in flight")
        await asyncio.sleep(0.1)
        assert dest.running[RecordKind.EVENTS] == 1  # the next event waits for this one
        dest.gate.set()
        await eventually(lambda: forwarder.stats.sent == 33, 5, "all sent")
    assert dest.most[RecordKind.EVENTS] == 1
    sent_events = [c.documents[0] for c in dest.got if c.kind == RecordKind.EVENTS]
    assert [json.loads(e)["state"] for e in sent_events] == ["raised", "cleared", "raised"]


async def test_the_wait_of_an_alarm_from_store_to_acknowledgement_is_kept(tmp_path: Path) -> None:
    dest = SlowDestination()
    async with sending(dest, tmp_path / "s.db", []) as (forwarder, store, _):
        stored_at = time.monotonic() - 0.5  # handed to the store half a second ago
        for chunk in (await store.append([SinkBatch(ReadingBatch.empty(), events=[alarm(1.0)])]))["up"]:
            forwarder.offer(chunk, stored_at=stored_at)
        assert forwarder.stats.alarm_wait_s is None  # nothing acknowledged yet
        dest.gate.set()
        await eventually(lambda: forwarder.stats.alarm_wait_s is not None, 5, "the event acknowledged")
    wait = forwarder.stats.alarm_wait_s
    assert wait is not None and 0.5 <= wait < 5.0
    assert forwarder.stats.alarm_wait_max_s == wait
    assert forwarder.stats.as_dict()["alarm_wait_s"] == wait


async def test_sends_in_flight_when_stopped_are_sent_again_by_the_next_forwarder(tmp_path: Path) -> None:
    dest = SlowDestination()
    async with sending(dest, tmp_path / "s.db", readings(6)) as (_, _store, task):
        await eventually(lambda: dest.running[RecordKind.READINGS] == 4, 5, "four in flight")
        await stop(task)  # a restart with four messages unanswered
        assert dest.running[RecordKind.READINGS] == 0 and not dest.got
    dest.gate.set()
    async with sending(dest, tmp_path / "s.db", []) as (second, _store, _):
        await eventually(lambda: second.stats.sent == 60, 5, "all sent from the backlog")
        await eventually(lambda: second.stats.queue_depth == 0, 5, "queue drained")
    assert dest.kind_seqs() == list(range(1, 61))


async def test_an_outage_with_sends_in_flight_loses_nothing(tmp_path: Path) -> None:
    dest = SlowDestination()
    dest.up = False
    dest.gate.set()
    async with sending(dest, tmp_path / "s.db", readings(6)) as (forwarder, _, _):
        await eventually(lambda: forwarder.stats.failed >= 40, 5, "four sends failing")
        dest.up = True
        await eventually(lambda: forwarder.stats.sent == 60, 10, "all sent after the outage")
        await eventually(lambda: forwarder.stats.queue_depth == 0, 5, "queue drained")
    # In the order sent: each retry waited for the send before it, and none overtook a retry.
    assert [int(s) for c in dest.got for s in c.seq] == list(range(1, 61))


async def test_no_new_send_starts_while_one_retries(tmp_path: Path) -> None:
    dest = SlowDestination()
    dest.up = False
    dest.gate.set()
    async with sending(dest, tmp_path / "s.db", readings(2), in_flight=4) as (forwarder, store, _):
        await eventually(lambda: forwarder.stats.failed >= 20, 5, "both sends failing")
        await queue(store, forwarder, [block(100.0, 10)])  # a newer live chunk arrives
        await asyncio.sleep(0.5)
        assert dest.tried == {1, 11}  # only the two retrying: the newer one waits for them
        dest.up = True
        await eventually(lambda: forwarder.stats.sent == 30, 10, "all sent after the outage")
    assert [int(s) for c in dest.got for s in c.seq] == list(range(1, 31))
