"""The forwarder: acknowledged chunks leave the queue, failures keep them, live goes first."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType

import numpy as np
import pytest

from drivers import SqliteStore
from gateway.forward import Forwarder, ForwardStats, TokenBucket
from gateway.forward import forwarder as forwarder_module
from gateway.vocab import (
    AlarmEvent,
    ChannelMeta,
    Delivery,
    DestinationBusyError,
    ForwardChunk,
    ReadingBatch,
    RetryableSinkError,
    SinkBatch,
)
from tests.support import eventually

CHANNELS = [ChannelMeta("a.x", "a", "x")]


class FakeDestination:
    """Takes chunks while ``up``; otherwise fails the way it is told to."""

    def __init__(self, name: str = "up") -> None:
        self.name = name
        self.up = True
        self.busy_after: float | None = None
        self.reject: int = 0
        self.got: list[ForwardChunk] = []
        self.attempts = 0

    async def __aenter__(self) -> FakeDestination:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def send(self, chunk: ForwardChunk) -> Delivery:
        self.attempts += 1
        if self.busy_after is not None:
            raise DestinationBusyError(self.name, "429 too many requests", self.busy_after)
        if not self.up:
            raise RetryableSinkError(self.name, "connection refused")
        self.got.append(chunk)
        if self.reject:
            return Delivery(rejected=self.reject, reason="400 bad field")
        return Delivery()

    def seqs(self) -> list[int]:
        return [int(s) for c in self.got for s in c.seq]


def block(start: float, n: int) -> SinkBatch:
    ts = start + np.arange(n, dtype=np.float64)
    return SinkBatch(ReadingBatch(ts, np.zeros(n, np.int32), ts.copy(), np.zeros(n, np.uint8)))


def alarm(ts: float) -> AlarmEvent:
    return AlarmEvent("s1", ts, "a.x", "r", 2, "raised", 1.0, 0.5, "mm", "m", "A1")


async def run_forwarder(forwarder: Forwarder) -> asyncio.Task[None]:
    return asyncio.create_task(forwarder.run())


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@asynccontextmanager
async def forwarding(
    dest: FakeDestination, path: Path, backlog_rate: float | None = None
) -> AsyncIterator[tuple[Forwarder, SqliteStore]]:
    """The store at ``path`` (one destination, ``up``) and its forwarder to ``dest``, running till the end."""
    async with SqliteStore(path, CHANNELS, site="s1", destinations=["up"]) as store:
        forwarder = Forwarder(dest, store, ForwardStats("up", "fake"), backlog_rate=backlog_rate)
        task = await run_forwarder(forwarder)
        yield forwarder, store
        await stop(task)


async def test_everything_queued_arrives_once_and_leaves_the_queue(tmp_path: Path) -> None:
    dest = FakeDestination()
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"]) as store:
        forwarder = Forwarder(dest, store, ForwardStats("up", "fake"), backlog_rate=None)
        for i in range(5):
            for chunk in (await store.append([block(i * 10.0, 10)]))["up"]:
                forwarder.offer(chunk)
        task = await run_forwarder(forwarder)
        await eventually(lambda: forwarder.stats.sent == 50, 5, "all sent")
        await eventually(lambda: forwarder.stats.queue_depth == 0, 5, "queue drained")
        await stop(task)
        assert sorted(dest.seqs()) == list(range(1, 51))
        assert (await store.pending("up")).records == 0
        # Five waiting chunks went as one message, named by its first and last seq.
        assert forwarder.stats.sent_messages == 1
        assert [c.id for c in dest.got] == ["s1-readings-1-50"] and len(dest.got[0].segments) == 5


async def test_an_outage_keeps_every_chunk_and_the_backlog_follows_the_live_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING)
    monkeypatch.setattr(forwarder_module, "LIVE_CHUNKS", 4)
    dest = FakeDestination()
    dest.up = False
    async with forwarding(dest, tmp_path / "s.db") as (forwarder, store):
        for i in range(20):  # 20 chunks during the outage; memory holds only 4 (+1 in flight)
            for chunk in (await store.append([block(i * 10.0, 10)]))["up"]:
                forwarder.offer(chunk)
        await eventually(lambda: dest.attempts >= 3, 10, "retries while down")
        assert forwarder.stats.failed >= 30 and not forwarder.stats.connected
        dest.up = True
        await eventually(lambda: forwarder.stats.sent == 200, 15, "everything sent after the outage")
    assert sorted(dest.seqs()) == list(range(1, 201))  # each exactly once
    order = [int(c.seq[0]) for c in dest.got]
    # The chunk in flight goes first, then the newest (live) chunks, then the backlog from the oldest.
    live = [c for c in dest.got[1:] if c.live]
    backlog = [c for c in dest.got if not c.live]
    assert [int(c.seq[0]) for c in live] == sorted(int(c.seq[0]) for c in live)
    assert min(int(c.seq[0]) for c in live) > max(int(c.seq[0]) for c in backlog)
    assert order.index(int(backlog[0].seq[0])) > order.index(int(live[-1].seq[0]))
    failed = [r for r in caplog.records if "destination up failed" in r.getMessage()]
    recovered = [r for r in caplog.records if "destination up recovered" in r.getMessage()]
    assert len(failed) == 1 and len(recovered) == 1


async def test_alarms_go_ahead_of_the_reading_backlog(tmp_path: Path) -> None:
    dest = FakeDestination()
    path = tmp_path / "s.db"
    async with SqliteStore(path, CHANNELS, site="s1", destinations=["up"]) as store:
        for i in range(10):
            await store.append([block(i * 10.0, 10)])  # queued, never offered: a backlog
        await store.append([SinkBatch(ReadingBatch.empty(), (alarm(500.0),))])
    async with forwarding(dest, path) as (forwarder, _):
        await eventually(lambda: forwarder.stats.sent == 101, 5, "all sent")
    assert dest.got[0].kind == "events"
    # The reading backlog follows, oldest first, its ten segments merged into one message.
    assert [c.seq.tolist() for c in dest.got[1:]] == [list(range(1, 101))]


async def test_busy_destination_is_retried_no_sooner_than_it_asked(tmp_path: Path) -> None:
    dest = FakeDestination()
    dest.busy_after = 0.6
    async with forwarding(dest, tmp_path / "s.db") as (forwarder, store):
        for chunk in (await store.append([block(0.0, 10)]))["up"]:
            forwarder.offer(chunk)
        await eventually(lambda: dest.attempts >= 1, 5, "first attempt")
        await asyncio.sleep(0.3)
        assert dest.attempts == 1  # Retry-After 0.6 s: no second attempt yet
        dest.busy_after = None
        await eventually(lambda: forwarder.stats.sent == 10, 5, "sent after the wait")
    assert forwarder.stats.last_error == "429 too many requests"


async def test_refused_records_are_dropped_and_counted_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dest = FakeDestination()
    dest.reject = 3
    async with forwarding(dest, tmp_path / "s.db") as (forwarder, store):
        for chunk in (await store.append([block(0.0, 10)]))["up"]:
            forwarder.offer(chunk)
        await eventually(lambda: forwarder.stats.sent == 7, 5, "the accepted part counted as sent")
        await eventually(lambda: forwarder.stats.queue_depth == 0, 5, "the chunk left the queue")
    assert forwarder.stats.dropped == {"rejected: 400 bad field": 3}
    assert any("refused 3 record(s)" in r.getMessage() for r in caplog.records)


async def test_backlog_drains_at_the_bounded_rate(tmp_path: Path) -> None:
    dest = FakeDestination()
    path = tmp_path / "s.db"
    async with SqliteStore(path, CHANNELS, site="s1", destinations=["up"]) as store:
        for i in range(6):
            await store.append([block(i * 100.0, 100)])
    async with forwarding(dest, path, backlog_rate=1000.0) as (forwarder, _):
        await eventually(lambda: forwarder.stats.sent == 600, 10, "backlog drained")
    assert sorted(dest.seqs()) == list(range(1, 601))


def test_token_bucket_spaces_records_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(100.0, clock=lambda: now[0])
    assert bucket.delay_for(100) == 0.0  # a full second's burst
    assert bucket.delay_for(50) == pytest.approx(0.5)
    now[0] += 0.5
    assert bucket.delay_for(50) == 0.0
    # A chunk larger than the burst waits for a full bucket, then goes (in debt).
    now[0] += 1.0
    assert bucket.delay_for(250) == 0.0
    assert bucket.delay_for(10) > 1.0
    with pytest.raises(ValueError):
        TokenBucket(0)


class ExplodingDestination(FakeDestination):
    """A destination with a bug: the first send raises something no contract names."""

    async def send(self, chunk: ForwardChunk) -> Delivery:
        if self.attempts == 0:
            self.attempts += 1
            raise ValueError("a bug in the destination")
        return await super().send(chunk)


async def test_a_chunk_in_flight_when_the_forwarder_fails_is_sent_after_its_restart(tmp_path: Path) -> None:
    dest = ExplodingDestination()
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"]) as store:
        forwarder = Forwarder(dest, store, ForwardStats("up", "fake"), backlog_rate=None)
        for chunk in (await store.append([block(0.0, 10)]))["up"]:
            forwarder.offer(chunk)
        with pytest.raises(ValueError, match="a bug"):
            await forwarder.run()
        task = await run_forwarder(forwarder)  # what the supervisor does
        await eventually(lambda: forwarder.stats.sent == 10, 5, "the chunk sent after the restart")
        await stop(task)
    assert dest.seqs() == list(range(1, 11))


async def test_sends_do_not_wait_for_the_store_to_note_them_and_none_is_sent_twice(tmp_path: Path) -> None:
    """A busy store (its acknowledgements held back) no longer holds the sends: every chunk still
    goes once, in order, and the store learns of all of them in a few calls once it answers."""
    dest = FakeDestination()
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"]) as store:
        held = asyncio.Event()
        calls: list[int] = []
        acknowledge = store.acknowledge

        async def slow_acknowledge(destination: str, segments: list[int]) -> None:
            calls.append(len(segments))
            await held.wait()
            await acknowledge(destination, segments)

        store.acknowledge = slow_acknowledge  # type: ignore[method-assign]
        forwarder = Forwarder(dest, store, ForwardStats("up", "fake"), backlog_rate=None)
        task = await run_forwarder(forwarder)
        for i in range(20):
            for chunks in (await store.append([block(i * 10.0, 10)])).values():
                for chunk in chunks:
                    forwarder.offer(chunk)
            await asyncio.sleep(0)
        await eventually(lambda: len(dest.seqs()) == 200, 5, "every chunk sent while the store waits")
        assert calls and calls[0] >= 1 and len(calls) == 1  # the first still waits: no second yet
        held.set()
        await eventually(
            lambda: forwarder._delivered == [] and not forwarder._claimed, 5, "the store told of all"
        )
        assert (await store.pending("up")).records == 0
        assert len(calls) <= 3 and sum(calls) == 20
        await stop(task)
    assert dest.seqs() == list(range(1, 201))
