"""Crane working cycles from the local store, newest first, by crane and time."""

from __future__ import annotations

import json
import sqlite3
from typing import Any


def crane_cycles(
    db: sqlite3.Connection, crane: str | None, start: float, end: float, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Cycles that started in ``[start, end)`` (of ``crane``, or all), at most ``limit``; and whether
    more were left out. Read through the ``cycles_ts`` index."""
    where = "ts >= ? AND ts < ?" + (" AND crane = ?" if crane is not None else "")
    params: tuple[Any, ...] = (start, end, crane) if crane is not None else (start, end)
    rows = db.execute(
        f"SELECT body FROM cycles WHERE {where} ORDER BY ts DESC LIMIT ?", (*params, limit + 1)
    ).fetchall()
    return [json.loads(body) for (body,) in rows[:limit]], len(rows) > limit
