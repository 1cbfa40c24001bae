"""The local store as a durable queue: stored once, queued per destination, acknowledged away."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import numpy as np

from drivers import SqliteStore
from drivers.sqlite_store import SEGMENT_READINGS
from gateway.vocab import (
    AlarmEvent,
    ChannelMeta,
    CraneCycle,
    Quality,
    ReadingBatch,
    RecordKind,
    SinkBatch,
    SiteCycle,
)
from tests.support import raised_event

CHANNELS = [ChannelMeta("a.x", "a", "x", "mm"), ChannelMeta("b.y", "b", "y", "t")]


def event(ts: float, ident: str) -> AlarmEvent:
    return raised_event(site="s1", ts=ts, id=ident)


def cycle(start: str, ident: str) -> SiteCycle:
    ts = datetime.fromisoformat(start).timestamp()
    nan = float("nan")
    return SiteCycle(
        "s1",
        CraneCycle(ident, ts, ts, 0.0, 3.5, nan, nan, nan, nan, nan, nan, nan, nan, False, 1, "set_down"),
    )


def readings(ts: list[float], channel: list[int], value: list[float]) -> ReadingBatch:
    return ReadingBatch.from_lists(ts, channel, value, [0] * len(ts))


async def test_a_batch_is_stored_once_and_queued_for_every_destination(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up", "db"]) as store:
        batch = SinkBatch(
            readings([1.0, 2.0, 3.0], [0, 1, 0], [1.5, float("nan"), 2.5]),
            (event(2.0, "e1"),),
            (cycle("2026-11-21T08:00:00.000Z", "crane1"),),
        )
        live = await store.append([batch])
        assert set(live) == {"up", "db"}
        kinds = [c.kind for c in live["up"]]
        assert kinds == [RecordKind.READINGS, RecordKind.EVENTS, RecordKind.CYCLES]
        chunk = live["up"][0]
        assert chunk.id == "s1-readings-1-3" and chunk.live
        assert chunk.seq.tolist() == [1, 2, 3]
        assert chunk.channel.tolist() == [0, 1, 0]
        assert np.isnan(chunk.value[1]) and chunk.value[2] == 2.5
        assert json.loads(live["db"][1].documents[0])["id"] == "e1"
        assert json.loads(live["db"][2].documents[0])["crane"] == "crane1"
        assert json.loads(live["db"][2].documents[0])["start"] == "2026-11-21T08:00:00.000Z"
        for dest in ("up", "db"):
            pending = await store.pending(dest)
            assert (pending.records, pending.segments) == (5, 3)
        assert await store.count("readings") == 3

        # The backlog gives the same records back from disk, with the same ids.
        back = await store.backlog("up", RecordKind.READINGS, 0, 10)
        assert [c.id for c in back] == ["s1-readings-1-3"] and not back[0].live
        assert back[0].channel.tolist() == [0, 1, 0] and np.isnan(back[0].value[1])

        await store.acknowledge("up", [c.segment for c in live["up"]])
        assert (await store.pending("up")).records == 0
        assert (await store.pending("db")).records == 5  # the other destination still waits


async def test_queues_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path, CHANNELS, site="s1", destinations=["up"]) as store:
        live = await store.append([SinkBatch(readings([1.0, 2.0], [0, 1], [1.0, 2.0]))])
    async with SqliteStore(path, CHANNELS, site="s1", destinations=["up"]) as store:
        back = await store.backlog("up", RecordKind.READINGS, 0, 10)
        assert [c.segment for c in back] == [live["up"][0].segment]
        assert back[0].value.tolist() == [1.0, 2.0]
        # Sequence numbers go on from where they were: ids never repeat.
        more = await store.append([SinkBatch(readings([3.0], [0], [3.0]))])
        assert more["up"][0].seq.tolist() == [3]


async def test_a_message_delivered_twice_is_stored_and_queued_once(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"]) as store:
        first = readings([1.0, 2.0], [0, 0], [1.0, 2.0])
        await store.append([SinkBatch(first)])
        # Redelivered after a crash, together with one new reading.
        again = await store.append([SinkBatch(readings([1.0, 2.0, 3.0], [0, 0, 0], [1.0, 2.0, 3.0]))])
        (chunk,) = again["up"]
        assert chunk.ts.tolist() == [3.0] and chunk.seq[0] > 2  # seq only grows (gaps allowed)
        assert store.counters.duplicates == 2
        assert (await store.pending("up")).records == 3
        assert await store.count("readings") == 3
        dup = await store.append([SinkBatch(ReadingBatch.empty(), (event(1.0, "e1"), event(1.0, "e1")))])
        assert sum(len(c) for c in dup["up"]) == 1


async def test_large_writes_are_cut_into_segments(tmp_path: Path) -> None:
    n = SEGMENT_READINGS * 2 + 7
    ts = np.arange(n, dtype=np.float64)
    batch = ReadingBatch(ts, np.zeros(n, np.int32), ts.copy(), np.zeros(n, np.uint8))
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"]) as store:
        live = await store.append([SinkBatch(batch)])
        sizes = [len(c) for c in live["up"]]
        assert sizes == [SEGMENT_READINGS, SEGMENT_READINGS, 7]
        assert live["up"][1].seq[0] == SEGMENT_READINGS + 1


async def test_channels_dropped_from_the_config_keep_their_names(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path, CHANNELS, site="s1", destinations=["up"]) as store:
        await store.append([SinkBatch(readings([1.0], [1], [7.0]))])
    async with SqliteStore(path, [CHANNELS[0]], site="s1", destinations=["up"]) as store:
        back = await store.backlog("up", RecordKind.READINGS, 0, 10)
        column = int(back[0].channel[0])
        assert store.channels[column].id == "b.y"
        assert store.channels[column].device == "b" and store.channels[column].quantity == "y"


async def test_first_layout_store_is_kept_aside_and_replaced(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE channels (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
        "CREATE TABLE readings (ts REAL NOT NULL, channel INTEGER NOT NULL, value REAL, quality INTEGER);"
        "CREATE INDEX readings_channel_ts ON readings(channel, ts);"
        "CREATE TABLE alarm_events (id TEXT PRIMARY KEY, alarm_id TEXT, ts REAL, channel TEXT, rule TEXT,"
        " grade INTEGER, state TEXT, body TEXT);"
        "INSERT INTO readings VALUES (1.0, 1, 2.0, 0);"
    )
    db.commit()
    db.close()
    async with SqliteStore(path, CHANNELS, site="s1", destinations=["up"]) as store:
        live = await store.append([SinkBatch(readings([5.0], [0], [1.0]))])
        assert live["up"][0].seq.tolist() == [1]
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM readings_v1").fetchone()[0] == 1
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2


async def test_bad_readings_are_stored_with_their_quality(tmp_path: Path) -> None:
    batch = ReadingBatch.from_lists([1.0], [0], [float("nan")], [Quality.BAD_COMM])
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"]) as store:
        live = await store.append([SinkBatch(batch)])
        assert live["up"][0].quality.tolist() == [Quality.BAD_COMM]
        back = await store.backlog("up", RecordKind.READINGS, 0, 1)
        assert back[0].quality.tolist() == [Quality.BAD_COMM] and np.isnan(back[0].value[0])


async def test_backlog_loads_a_few_messages_worth_whatever_the_segment_size(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db", CHANNELS, site="s1", destinations=["up"]) as store:
        for i in range(50):
            await store.append([SinkBatch(readings([float(i)], [0], [1.0]))])  # 50 one-reading segments
        big = ReadingBatch.from_lists([100.0 + i for i in range(5000)], [1] * 5000, [1.0] * 5000, [0] * 5000)
        await store.append([SinkBatch(big)])  # segments of 2,000, 2,000 and 1,000
        small = await store.backlog("up", RecordKind.READINGS, 0, 256, max_records=30)
        assert [len(c) for c in small] == [1] * 30
        rest = await store.backlog("up", RecordKind.READINGS, small[-1].segment, 256, max_records=1000)
        # The small ones that fit, then the budget stops before the next 2,000-reading segment.
        assert [len(c) for c in rest] == [1] * 20
        first_big = await store.backlog("up", RecordKind.READINGS, rest[-1].segment, 256, max_records=10)
        assert [len(c) for c in first_big] == [2000]  # one segment always comes, whatever its size
