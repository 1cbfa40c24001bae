"""What goes wrong inside the gateway must not cost data: a bad record, an analytics fault, a full
disk, a store left half-evicted by a crash, a link that only just keeps up."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drivers import SqliteStore
from drivers.store_retention import Retention
from gateway.config import parse_config
from gateway.forward import Forwarder, ForwardStats
from gateway.forward.store_writer import StoreWriter
from gateway.pipeline import Pipeline
from gateway.site import Site
from gateway.vocab import CraneCycle, ReadingBatch, RecordKind, SinkBatch, SiteCycle
from tests.gateway.forward.test_forwarder import CHANNELS, FakeDestination, alarm, block, run_forwarder, stop
from tests.support import eventually


async def test_a_malformed_record_is_dropped_alone_counted_and_the_rest_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    acknowledged: list[int] = []
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"]) as store:
        writer = StoreWriter(store, [])
        task = asyncio.create_task(writer.run())
        writer.offer(block(0.0, 10), [lambda: acknowledged.append(1)])
        nan = float("nan")  # a start time of NaN: a bug upstream
        bad_cycle = SiteCycle(
            "s1",
            CraneCycle(
                "crane1", nan, nan, 0.0, 1.0, nan, nan, nan, nan, nan, nan, nan, nan, False, 1, "open"
            ),
        )
        writer.offer(SinkBatch(ReadingBatch.empty(), (), (bad_cycle,)), [lambda: acknowledged.append(2)])
        writer.offer(block(100.0, 10), [lambda: acknowledged.append(3)])
        assert await writer.drain(5)
        task.cancel()
        assert await store.count("readings") == 20
        assert await store.count("cycles") == 0
    assert writer.health.rejected_batches == 1 and writer.rejected_readings == 0
    assert sorted(acknowledged) == [1, 2, 3]  # the broker is not left waiting, nor redelivering a poison
    assert any("refused a batch for good" in r.getMessage() for r in caplog.records)


async def test_an_analytics_fault_still_stores_the_readings_and_acknowledges_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_config("site: {id: t1}\ndevices:\n  - {id: a, type: mqtt, channels: {x: {unit: mm}}}\n")
    site = Site(config)
    engine, book = site.analytics()
    acknowledged: list[str] = []
    async with SqliteStore(tmp_path / "s.db", ["a.x"], site="t1") as store:
        writer = StoreWriter(store, [])
        pipeline = Pipeline(engine, book, [], durable=writer)

        def broken(*args: object) -> None:
            raise ZeroDivisionError("a bug in a rule")

        monkeypatch.setattr(engine, "process", broken)
        tasks = [asyncio.create_task(pipeline.run()), asyncio.create_task(writer.run())]
        for i in range(3):
            await pipeline.submit(
                ReadingBatch.from_lists([float(i)], [0], [1.0], [0]), lambda: acknowledged.append("m")
            )
        assert await pipeline.drain(5)
        for task in tasks:
            task.cancel()
        assert await store.count("readings") == 3
    assert acknowledged == ["m", "m", "m"]
    assert pipeline.stats.analytics_failures >= 1
    assert sum("analytics failed" in r.getMessage() for r in caplog.records) == 1


async def test_a_disk_that_stays_full_is_evicted_for_at_most_once_a_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_limits = Retention(max_age_s=None, max_bytes=None)  # only the full disk evicts here
    store = SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"], retention=no_limits)
    async with store:
        for i in range(10):
            await store.append([block(i * 100.0, 100)])

        def full(batches: object) -> object:
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(store, "_append", full)
        from gateway.vocab import RetryableSinkError

        for _ in range(5):  # the writer retries like this while the disk stays full
            with pytest.raises(RetryableSinkError, match="full"):
                await store.append([block(5000.0, 10)])
        monkeypatch.undo()
        left = await store.count("readings")
    assert left == 900  # one eviction of 10 %, not five
    assert store.counters.evicted == 100 and store.counters.evicted_unsent["up"] == 100


async def test_retention_counts_real_rows_across_sequence_gaps(tmp_path: Path) -> None:
    now = 10_000.0
    store = SqliteStore(
        tmp_path / "s.db",
        CHANNELS,
        site="s1",
        destinations=["up"],
        retention=Retention(max_age_s=50.0, max_bytes=None),
        clock=lambda: now,
    )
    async with store:
        await store.append([block(now - 100, 2)])  # seq 1, 2
        # One segment with gaps in its seq range: duplicates use up sequence numbers.
        again = ReadingBatch.from_lists(
            [now - 100, now - 99, now - 60, now - 100, now - 10], [0, 0, 0, 0, 0], [1.0] * 5, [0] * 5
        )
        live = await store.append([SinkBatch(again)])
        (chunk,) = live["up"]
        assert len(chunk) == 2 and chunk.seq[-1] - chunk.seq[0] > 1
        report = await store.enforce_retention()
        pending = await store.pending("up")
    assert report.evicted == 3  # the two first readings and the one 60 s old
    assert report.unsent_by_destination["up"] == 3
    assert pending.records == 1  # exactly the reading 10 s old


async def test_queue_entries_left_without_their_records_are_counted_and_dropped(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path, CHANNELS, site="s1", destinations=["up"]) as store:
        await store.append([block(0.0, 10)])
        await store.append([block(100.0, 10)])
    with sqlite3.connect(path) as db:  # a crash after deleting rows, before trimming the queue
        db.execute("DELETE FROM readings WHERE seq <= 12")
    no_limits = Retention(max_age_s=None, max_bytes=None)
    async with SqliteStore(path, CHANNELS, site="s1", destinations=["up"], retention=no_limits) as store:
        report = await store.enforce_retention()
        pending = await store.pending("up")
        back = await store.backlog("up", RecordKind.READINGS, 0, 10)
    assert report.unsent_by_destination["up"] == 12
    assert pending.records == 8 and [len(c) for c in back] == [8]


async def test_backlog_alarm_events_go_before_live_readings(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path, CHANNELS, site="s1", destinations=["up"]) as store:
        await store.append([SinkBatch(ReadingBatch.empty(), (alarm(1.0),))])  # never sent: backlog
    dest = FakeDestination()
    async with SqliteStore(path, CHANNELS, site="s1", destinations=["up"]) as store:
        forwarder = Forwarder(dest, store, ForwardStats("up", "fake"), backlog_rate=None)
        for chunk in (await store.append([block(10.0, 10)]))["up"]:
            forwarder.offer(chunk)
        task = await run_forwarder(forwarder)
        await eventually(lambda: forwarder.stats.sent == 11, 5, "all sent")
        await stop(task)
    assert [c.kind for c in dest.got] == ["events", "readings"]


class SlowDestination(FakeDestination):
    """Answers each message after a round trip, whatever its size: a 4G link."""

    async def send(self, chunk: Any) -> Any:
        await asyncio.sleep(0.05)
        return await super().send(chunk)


async def test_the_backlog_drains_while_live_data_keeps_coming(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path, CHANNELS, site="s1", destinations=["up"]) as store:
        for i in range(20):
            await store.append([block(i * 100.0, 100)])  # 2,000 readings of backlog
    dest = SlowDestination()
    async with SqliteStore(path, CHANNELS, site="s1", destinations=["up"]) as store:
        forwarder = Forwarder(dest, store, ForwardStats("up", "fake"), backlog_rate=None)
        task = await run_forwarder(forwarder)
        start = 10_000.0
        for i in range(60):  # bounded: 60 live chunks, one every 20 ms, faster than the round trip
            for chunk in (await store.append([block(start + i * 10.0, 10)]))["up"]:
                forwarder.offer(chunk)
            await asyncio.sleep(0.02)
        backlog_sent = sum(len(c) for c in dest.got if not c.live)
        await eventually(lambda: forwarder.stats.sent == 2600, 10, "everything sent")
        await stop(task)
    # While live data still came, the backlog had its share of the messages.
    assert backlog_sent > 0
    assert sorted(dest.seqs()) == list(range(1, 2601))
    assert all(len(c) <= 2000 for c in dest.got)


def test_merged_chunks_name_every_segment() -> None:
    from collections import deque

    from gateway.forward.merge import take_merged
    from gateway.vocab import ForwardChunk

    def chunk(segment: int, first: int, n: int) -> ForwardChunk:
        seq = np.arange(first, first + n, dtype=np.int64)
        return ForwardChunk(
            id="x", site="s1", kind="readings", segment=segment, seq=seq, ts=seq.astype(float),
            channel=np.zeros(n, np.int32), value=seq.astype(float), quality=np.zeros(n, np.uint8),
        )  # fmt: skip

    queue = deque([chunk(1, 1, 1500), chunk(2, 1501, 400), chunk(3, 1901, 200)])
    merged = take_merged(queue)
    assert merged.segments == (1, 2) and merged.id == "s1-readings-1-1900" and len(merged) == 1900
    assert [c.segment for c in queue] == [3]  # the third would pass 2,000 readings: next message


def hold_first_write(store: SqliteStore, release: asyncio.Event) -> list[tuple[int, int]]:
    """The store's first write waits for ``release`` (the rest piles up behind it); every write's
    (readings, alarm events) is noted in the list returned."""
    written: list[tuple[int, int]] = []
    append = store.append

    async def slow_append(batches: Any) -> Any:
        if not written:
            await release.wait()
        written.append((sum(len(b.readings) for b in batches), sum(len(b.events) for b in batches)))
        return await append(batches)

    store.append = slow_append  # type: ignore[method-assign]
    return written


async def pile_up(writer: StoreWriter, acknowledged: list[int]) -> None:
    """One small batch whose write is held, then 20 batches of 5,000 readings behind it."""
    writer.offer(block(0.0, 10), [lambda: acknowledged.append(-1)])
    await asyncio.sleep(0.2)  # the first write has started
    for i in range(20):
        writer.offer(block(10.0 + i * 5000, 5000), [lambda i=i: acknowledged.append(i)])


async def test_a_store_that_fell_behind_writes_what_waits_in_bounded_transactions(tmp_path: Path) -> None:
    """While one write runs, 100,000 readings pile up: they go in transactions of at most
    WRITE_READINGS readings (so an alarm event or a forwarder's acknowledgement waits for one of
    them, not for all), in order, each batch's receipt called once, after its own write."""
    from gateway.forward.store_writer import WRITE_READINGS

    acknowledged: list[int] = []
    release = asyncio.Event()
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1") as store:
        writes = hold_first_write(store, release)
        writer = StoreWriter(store, [])
        task = asyncio.create_task(writer.run())
        await pile_up(writer, acknowledged)
        release.set()
        assert await writer.drain(10)
        task.cancel()
        assert await store.count("readings") == 100_010
    written = [readings for readings, _ in writes]
    assert written[0] == 10 and sum(written[1:]) == 100_000
    assert max(written[1:]) <= WRITE_READINGS and len(written) == 1 + 100_000 // WRITE_READINGS
    assert acknowledged == [-1, *range(20)]


async def test_an_alarm_event_does_not_wait_behind_readings_that_piled_up(tmp_path: Path) -> None:
    """An alarm event offered behind 100,000 waiting readings is in the next write; the readings
    of its batch keep their place, and its receipt waits for them."""
    acknowledged: list[int] = []
    release = asyncio.Event()
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1") as store:
        written = hold_first_write(store, release)  # (readings, events) per write
        writer = StoreWriter(store, [])
        task = asyncio.create_task(writer.run())
        await pile_up(writer, acknowledged)
        last = block(200_000.0, 5)
        writer.offer(SinkBatch(last.readings, (alarm(200_000.0),)), [lambda: acknowledged.append(99)])
        release.set()
        assert await writer.drain(10)
        task.cancel()
        assert await store.count("readings") == 100_015
        assert await store.count("alarm_events") == 1
    assert written[1][1] == 1  # the first write after the slow one holds the event
    assert sum(e for _, e in written) == 1 and written[-1] == (5, 0)
    assert acknowledged == [-1, *range(20), 99]
