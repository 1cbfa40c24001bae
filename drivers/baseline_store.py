"""Baselines taken from the data (cumulative rules' ``baseline: first``), in the alarm store's file.

One row per (rule, channel): the value, the data time of the reading it came from, and how it was
set (``first``: the first good reading; ``set``: given by an admin; ``reset``: no value, the first
good reading after ``updated`` is the next one). Resets are audited in
``baseline_audit`` (append-only), next to the alarm records' own audit trail, so the "since
installation" reference survives restarts and every change to it says who, when and why.

Synchronous functions on a connection: the alarm store runs them in its worker thread
(``SqliteFile.call``).
"""

from __future__ import annotations

import logging
import math
import sqlite3
from dataclasses import dataclass
from typing import Any

from drivers.audit_table import AuditTable

log = logging.getLogger(__name__)

TABLES = """
CREATE TABLE IF NOT EXISTS baselines (
    rule TEXT NOT NULL,
    channel TEXT NOT NULL,
    value REAL,
    taken_ts REAL,
    source TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (rule, channel)
);
"""
AUDIT = AuditTable("baseline_audit", ("rule", "channel"), index="baseline_audit_key")
SCHEMA = TABLES + AUDIT.schema


@dataclass(frozen=True, slots=True)
class StoredBaseline:
    rule: str
    channel: str
    value: float | None  # None only for a reset waiting for its reading
    taken_ts: float | None
    source: str
    updated: float


RESET = "reset"


@dataclass(frozen=True, slots=True)
class LoadedBaselines:
    rows: list[StoredBaseline]
    unreadable: list[tuple[str, str]]  # (rule, channel) of rows whose value is not a finite number


def ensure_schema(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def load(db: sqlite3.Connection) -> LoadedBaselines:
    ensure_schema(db)
    rows: list[StoredBaseline] = []
    unreadable: list[tuple[str, str]] = []
    for rule, channel, value, taken_ts, source, updated in db.execute(
        "SELECT rule, channel, value, taken_ts, source, updated FROM baselines ORDER BY rule, channel"
    ):
        number = _finite(value)
        if number is None and not (source == RESET and value is None):
            unreadable.append((str(rule), str(channel)))
            continue
        taken = _finite(taken_ts)
        rows.append(StoredBaseline(str(rule), str(channel), number, taken, str(source), float(updated or 0)))
    return LoadedBaselines(rows, unreadable)


def save(db: sqlite3.Connection, rows: list[StoredBaseline], audit: list[dict[str, Any]]) -> None:
    """Write rows and their audit entries in one transaction."""
    ensure_schema(db)
    with db:
        db.executemany(
            "INSERT INTO baselines(rule, channel, value, taken_ts, source, updated) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(rule, channel) DO UPDATE SET value=excluded.value, taken_ts=excluded.taken_ts,"
            " source=excluded.source, updated=excluded.updated",
            [(r.rule, r.channel, r.value, r.taken_ts, r.source, r.updated) for r in rows],
        )
        _audit(db, audit)


def audit_trail(db: sqlite3.Connection, rule: str, channel: str) -> list[dict[str, Any]]:
    ensure_schema(db)
    return AUDIT.trail(db, (rule, channel))


def _audit(db: sqlite3.Connection, audit: list[dict[str, Any]]) -> None:
    AUDIT.append(db, (((e["rule"], e["channel"]), e) for e in audit))


def _finite(value: object) -> float | None:
    """A stored number, or None for NULL, text, or a non-finite value (a damaged row)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
