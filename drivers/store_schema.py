"""The local store's tables, and the move from the first layout (no sequence numbers).

Every record kind has a ``seq`` that only grows (AUTOINCREMENT: never reused, even after the
newest rows are deleted), so a forward queue can name its records by ranges of seq, and the far
side can drop duplicates by ``(site, kind, seq)``.

``forward_queue`` holds, per destination, the ranges of records not yet acknowledged there: one
row (a segment) per kind per store write. A record is stored once, whatever the number of
destinations; a segment leaves the queue only when its destination acknowledged it.
"""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS readings (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    channel INTEGER NOT NULL REFERENCES channels(id),
    value REAL,
    quality INTEGER NOT NULL
);
-- One reading per channel and instant: a QoS 1 message delivered again after a crash is not
-- stored (nor forwarded) twice.
CREATE UNIQUE INDEX IF NOT EXISTS readings_channel_ts ON readings(channel, ts);
CREATE TABLE IF NOT EXISTS alarm_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    alarm_id TEXT NOT NULL,
    ts REAL NOT NULL,
    channel TEXT NOT NULL,
    rule TEXT NOT NULL,
    grade INTEGER NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alarm_events_ts ON alarm_events(ts);
CREATE INDEX IF NOT EXISTS alarm_events_alarm ON alarm_events(alarm_id);
CREATE TABLE IF NOT EXISTS cycles (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    crane TEXT NOT NULL,
    ts REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cycles_ts ON cycles(ts);
CREATE TABLE IF NOT EXISTS forward_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    destination TEXT NOT NULL,
    kind TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    count INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS forward_queue_next ON forward_queue(destination, kind, id);
"""

# Tables of the first layout that the new one cannot use as they are.
_OLD_TABLES = ("readings", "alarm_events")


def last_seq(db: sqlite3.Connection, table: str) -> int:
    """The last sequence number given out for ``table`` (0 if none): AUTOINCREMENT's own record."""
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name=?", (table,)).fetchone()
    return int(row[0]) if row else 0


def migrate(db: sqlite3.Connection) -> None:
    """Bring a store of the first layout to this one; keep its old tables under ``*_v1``."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version >= SCHEMA_VERSION:
        return
    columns = {row[1] for row in db.execute("PRAGMA table_info(readings)")}
    if columns and "seq" not in columns:
        for table in _OLD_TABLES:
            db.execute(f"ALTER TABLE {table} RENAME TO {table}_v1")
        for index in ("readings_channel_ts", "alarm_events_ts", "alarm_events_alarm"):
            db.execute(f"DROP INDEX IF EXISTS {index}")
        log.warning(
            "local store: first-layout tables kept as readings_v1 / alarm_events_v1 "
            "(not forwarded); new records use the sequenced layout"
        )
    db.executescript(SCHEMA)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    db.commit()
