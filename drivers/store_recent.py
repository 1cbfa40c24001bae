"""The local store's latest readings per channel, for warm-starting the analytics after a restart.

Synchronous on a connection (the store runs it in its worker thread, ``SqliteFile.call``). Each
query is a range scan of the ``(channel, ts)`` index, newest first, and bounded in rows.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gateway.vocab import Quality

GOOD_BELOW = Quality.BAD  # flags from this bit on make a reading unusable


@dataclass(frozen=True, slots=True)
class ChannelReadings:
    channel: str
    ts: npt.NDArray[np.float64]  # ascending
    value: npt.NDArray[np.float64]  # NaN where stored as NULL
    quality: npt.NDArray[np.uint8]


def recent_readings(
    db: sqlite3.Connection, channels: list[tuple[str, float]], min_count: int, max_rows: int
) -> list[ChannelReadings]:
    """Per (channel, span_s): its readings of the last ``span_s`` before its newest one, and at least
    its last ``min_count`` readings, at most ``max_rows`` (the newest). Channels without readings are
    left out."""
    ids = dict(db.execute("SELECT name, id FROM channels"))
    out: list[ChannelReadings] = []
    for name, span_s in channels:
        cid = ids.get(name)
        if cid is None:
            continue
        newest = db.execute("SELECT max(ts) FROM readings WHERE channel = ?", (cid,)).fetchone()
        if newest[0] is None:
            continue
        cutoff = float(newest[0]) - span_s
        nth = "SELECT ts FROM readings WHERE channel = ? ORDER BY ts DESC LIMIT 1 OFFSET ?"
        kth = db.execute(nth, (cid, min_count - 1)).fetchone()
        cutoff = min(cutoff, float(kth[0])) if kth is not None else -np.inf
        rows = db.execute(
            "SELECT ts, value, quality FROM readings WHERE channel = ? AND ts >= ? ORDER BY ts DESC LIMIT ?",
            (cid, cutoff, max_rows),
        ).fetchall()
        data = np.array(rows, dtype=np.float64).reshape(-1, 3)[::-1]  # NULL (None) becomes NaN
        out.append(ChannelReadings(name, data[:, 0].copy(), data[:, 1].copy(), data[:, 2].astype(np.uint8)))
    return out


def first_good(db: sqlite3.Connection, wanted: list[tuple[str, float]]) -> list[tuple[float, float] | None]:
    """Per (channel, since): (ts, value) of its oldest usable reading at or after ``since`` still in
    the store, or None."""
    ids = dict(db.execute("SELECT name, id FROM channels"))
    found: list[tuple[float, float] | None] = []
    for name, since in wanted:
        cid = ids.get(name)
        row = (
            None
            if cid is None
            else db.execute(
                "SELECT ts, value FROM readings WHERE channel = ? AND ts >= ? AND quality < ?"
                " AND value IS NOT NULL ORDER BY ts LIMIT 1",
                (cid, since, GOOD_BELOW),
            ).fetchone()
        )
        found.append(None if row is None else (float(row[0]), float(row[1])))
    return found
