"""The store's latest readings per channel for a warm start: the span, the minimum count, the bound."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np

from drivers.store_recent import first_good, recent_readings
from drivers.store_schema import migrate


def _store(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    migrate(db)
    db.executemany("INSERT INTO channels(name) VALUES (?)", [("a",), ("b",), ("quiet",)])
    rows = [(1000.0 + i, 1, float(i), 0) for i in range(100)]  # a: 1 Hz for 100 s
    rows += [(1000.0 + 3600.0 * i, 2, None if i == 0 else 5.0 + i, 0x20 if i == 0 else 0) for i in range(5)]
    db.executemany("INSERT INTO readings(ts, channel, value, quality) VALUES (?,?,?,?)", rows)
    db.commit()
    return db


def test_span_before_the_newest_reading_at_least_a_few_at_most_the_bound(tmp_path: Path) -> None:
    with closing(_store(tmp_path / "s.db")) as db:
        wanted = [("a", 10.0), ("b", 10.0), ("quiet", 99.0)]
        found = {r.channel: r for r in recent_readings(db, wanted, 3, 50)}
        assert set(found) == {"a", "b"}  # a channel without readings is left out
        assert found["a"].ts.tolist() == [1089.0 + i for i in range(11)]  # 10 s before the newest, ascending
        assert found["a"].value.tolist() == [89.0 + i for i in range(11)]
        # b is hourly: 10 s hold only its newest reading, so its last 3 are taken whatever their age.
        assert found["b"].ts.tolist() == [1000.0 + 3600.0 * i for i in (2, 3, 4)]
        bounded = recent_readings(db, [("a", 1e6), ("b", 1e6)], 3, 50)
        assert len(bounded[0].ts) == 50 and bounded[0].ts[-1] == 1099.0  # the newest 50
        assert np.isnan(bounded[1].value[0]) and bounded[1].quality[0] == 0x20  # NULL stays unusable


def test_first_good_skips_unusable_and_older_readings(tmp_path: Path) -> None:
    with closing(_store(tmp_path / "s.db")) as db:
        wanted = [("a", -np.inf), ("b", -np.inf), ("quiet", -np.inf), ("unknown", -np.inf), ("a", 1050.5)]
        assert first_good(db, wanted) == [(1000.0, 0.0), (4600.0, 6.0), None, None, (1051.0, 51.0)]
