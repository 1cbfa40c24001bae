from __future__ import annotations

import sqlite3
from pathlib import Path

from drivers import SqliteStore
from gateway.vocab import Quality, ReadingBatch, SinkBatch
from tests.support import raised_event


async def test_readings_and_events_are_stored(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "store.db"
    event = raised_event(site="s", ts=2.0)
    readings = ReadingBatch.from_lists([1.0, 2.0], [0, 1], [float("nan"), 11.0], [Quality.BAD_VALUE, 0])
    async with SqliteStore(path, ["a.x", "b.y"]) as store:
        await store.write(SinkBatch(readings, (event,)))
        await store.write(SinkBatch(ReadingBatch.empty(), (event,)))  # a duplicate event id is ignored
        assert [e["id"] for e in await store.alarm_events()] == [event.id]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    rows = db.execute(
        "SELECT r.ts, c.name, r.value, r.quality"
        " FROM readings r JOIN channels c ON c.id = r.channel ORDER BY ts"
    ).fetchall()
    assert rows == [(1.0, "a.x", None, Quality.BAD_VALUE), (2.0, "b.y", 11.0, 0)]
    # Reopening keeps channel ids stable even if the site adds a channel in front.
    async with SqliteStore(path, ["new.z", "a.x", "b.y"]) as store:
        await store.write(SinkBatch(ReadingBatch.from_lists([3.0], [1], [1.5], [0])))
    names = db.execute(
        "SELECT c.name FROM readings r JOIN channels c ON c.id = r.channel ORDER BY ts"
    ).fetchall()
    assert [n for (n,) in names] == ["a.x", "b.y", "a.x"]
