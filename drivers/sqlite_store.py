"""The local store: readings and alarm events in SQLite (WAL), written off the event loop."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drivers.sqlite_file import SqliteFile
from gateway.errors import RetryableSinkError
from gateway.models import AlarmEvent, SinkBatch

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS readings (
    ts REAL NOT NULL,
    channel INTEGER NOT NULL REFERENCES channels(id),
    value REAL,
    quality INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_channel_ts ON readings(channel, ts);
CREATE TABLE IF NOT EXISTS alarm_events (
    id TEXT PRIMARY KEY,
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
"""


class SqliteStore(SqliteFile):
    """Sink writing every reading and alarm event to one SQLite file.

    ``write`` is never called after ``__aexit__``. A locked or full database raises
    RetryableSinkError so the batch is kept; the store never drops a batch itself.
    """

    name = "sqlite"

    def __init__(self, path: str | Path, channel_names: Sequence[str]) -> None:
        super().__init__(path, SCHEMA, synchronous="NORMAL", thread_name="sqlite")
        self._channel_names = list(channel_names)
        self._channel_ids: list[int] = []
        self.rows_written = 0
        self.events_written = 0

    async def write(self, batch: SinkBatch) -> None:
        try:
            await self._run(self._write, batch)
        except sqlite3.OperationalError as exc:
            # "database is locked", "disk I/O error", "database or disk is full": keep the batch.
            raise RetryableSinkError(self.name, str(exc)) from exc

    def _opened(self, db: sqlite3.Connection) -> None:
        db.executemany("INSERT OR IGNORE INTO channels(name) VALUES (?)", [(n,) for n in self._channel_names])
        db.commit()
        ids = dict(db.execute("SELECT name, id FROM channels"))
        self._channel_ids = [ids[n] for n in self._channel_names]

    def _write(self, batch: SinkBatch) -> None:
        db = self._conn()
        r = batch.readings
        ids = self._channel_ids
        rows = [
            (ts, ids[ch], None if value != value else value, q)  # NaN is stored as NULL
            for ts, ch, value, q in zip(
                r.ts.tolist(), r.channel.tolist(), r.value.tolist(), r.quality.tolist(), strict=True
            )
        ]
        with db:
            db.executemany("INSERT INTO readings(ts, channel, value, quality) VALUES (?,?,?,?)", rows)
            db.executemany(
                "INSERT OR IGNORE INTO alarm_events(id, alarm_id, ts, channel, rule, grade, state, body)"
                " VALUES (?,?,?,?,?,?,?,?)",
                [_event_row(e) for e in batch.events],
            )
        self.rows_written += len(rows)
        self.events_written += len(batch.events)

    # Reading back (API, tests)

    async def alarm_events(self, limit: int = 1000) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = await self._run(self._alarm_events, limit)
        return events

    def _alarm_events(self, limit: int) -> list[dict[str, Any]]:
        cur = self._conn().execute("SELECT body FROM alarm_events ORDER BY ts DESC LIMIT ?", (limit,))
        return [json.loads(body) for (body,) in cur]


def _event_row(event: AlarmEvent) -> tuple[Any, ...]:
    return (
        event.id,
        event.alarm_id,
        event.ts,
        event.channel,
        event.rule,
        event.grade,
        event.state,
        event.to_json(),
    )
