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


async def test_every_double_is_stored_exactly_and_non_finite_values_as_sqlite_knows_them(
    tmp_path: Path,
) -> None:
    """Readings go in as one JSON document: each time and value must read back bit for bit (a
    time one ulp off would let a redelivered message in twice), NaN as NULL, infinities as such."""
    import numpy as np

    rng = np.random.default_rng(3)
    n = 5000
    ts = np.sort(1.7e9 + rng.random(n) * 1e7)
    value = rng.normal(size=n) * 10.0 ** rng.integers(-9, 9, n)
    value[[10, 11, 12]] = [np.nan, np.inf, -np.inf]
    quality = rng.integers(0, 256, n)
    channel = np.arange(n) % 2
    path = tmp_path / "store.db"
    async with SqliteStore(path, ["a.x", "b.y"]) as store:
        await store.write(
            SinkBatch(
                ReadingBatch.from_lists(ts.tolist(), channel.tolist(), value.tolist(), quality.tolist())
            )
        )
        # The same readings again (a redelivery): none is stored twice.
        await store.write(
            SinkBatch(
                ReadingBatch.from_lists(ts.tolist(), channel.tolist(), value.tolist(), quality.tolist())
            )
        )
    db = sqlite3.connect(path)
    rows = db.execute(
        "SELECT r.ts, c.name, r.value, r.quality, typeof(r.quality)"
        " FROM readings r JOIN channels c ON c.id = r.channel ORDER BY r.seq"
    ).fetchall()
    assert len(rows) == n
    assert [r[0] for r in rows] == ts.tolist()
    assert [r[1] for r in rows] == [["a.x", "b.y"][c] for c in channel]
    stored = [r[2] for r in rows]
    assert stored[10] is None and stored[11] == float("inf") and stored[12] == float("-inf")
    expected = value.tolist()
    assert stored[:10] + stored[13:] == expected[:10] + expected[13:]
    assert [r[3] for r in rows] == quality.tolist() and {r[4] for r in rows} == {"integer"}


async def test_a_write_across_a_thousand_channels_keeps_its_statement_journal_in_memory(
    tmp_path: Path,
) -> None:
    """A write changes one index page per channel; the journal that can undo the statement holds
    them all (4 MB here) and must not go to a temporary file on every write."""
    import numpy as np

    channels = [f"d{d}.q{q}" for d in range(200) for q in range(5)]
    n = 2500
    batch = ReadingBatch.from_lists(
        (1.7e9 + np.arange(n) * 1e-3).tolist(), (np.arange(n) % 1000).tolist(), [1.0] * n, [0] * n
    )
    async with SqliteStore(tmp_path / "store.db", channels) as store:
        assert await store.call(lambda db: db.execute("PRAGMA temp_store").fetchone()[0]) == 2  # MEMORY
        await store.write(SinkBatch(batch))
        assert store.counters.readings_written == n
    db = sqlite3.connect(tmp_path / "store.db")
    assert db.execute("SELECT count(DISTINCT channel), count(*) FROM readings").fetchone() == (1000, n)
