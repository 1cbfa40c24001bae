"""Alarm records and their audit trail in SQLite (WAL), written off the event loop.

Records are stored as JSON documents keyed by id (the desk owns their shape); the audit trail is
append-only: who did what to which alarm, when, with which note.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drivers.audit_table import AuditTable
from drivers.sqlite_file import SqliteFile, json_bodies

TABLES = """
CREATE TABLE IF NOT EXISTS alarms (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    rule TEXT NOT NULL,
    status TEXT NOT NULL,
    active INTEGER NOT NULL,
    updated REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alarms_open ON alarms(status, updated);
CREATE INDEX IF NOT EXISTS alarms_channel_rule ON alarms(channel, rule, updated);
CREATE TABLE IF NOT EXISTS maintenance (
    device TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
"""
AUDIT = AuditTable("audit", ("alarm_id",), index="audit_alarm")
SCHEMA = TABLES + AUDIT.schema

# A device's audit entries share the audit table with the alarms' under this subject (alarm ids
# are hex, so they never collide).
DEVICE_SUBJECT = "device:"


class AlarmStore(SqliteFile):
    """``save`` writes a record and its audit entries in one transaction."""

    def __init__(self, path: str | Path) -> None:
        # People's actions are few and precious: every commit reaches the disk.
        super().__init__(path, SCHEMA, synchronous="FULL", thread_name="alarm-store")

    async def save(self, record: dict[str, Any], audit: list[dict[str, Any]]) -> None:
        await self._run(self._save, record, audit)

    def _save(self, record: dict[str, Any], audit: list[dict[str, Any]]) -> None:
        db = self._conn()
        with db:
            db.execute(
                "INSERT INTO alarms(id, channel, rule, status, active, updated, body) VALUES (?,?,?,?,?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET status=excluded.status, active=excluded.active,"
                " updated=excluded.updated, body=excluded.body",
                (
                    record["id"],
                    record["channel"],
                    record["rule"],
                    record["status"],
                    int(bool(record["active"])),
                    float(record["updated"]),
                    json.dumps(record, ensure_ascii=False),
                ),
            )
            AUDIT.append(db, (((record["id"],), entry) for entry in audit))

    async def save_maintenance(
        self, device: str, window: dict[str, Any] | None, audit: list[dict[str, Any]]
    ) -> None:
        """A device's maintenance window (None: ended) and its audit entries, in one transaction."""
        await self._run(self._save_maintenance, device, window, audit)

    def _save_maintenance(
        self, device: str, window: dict[str, Any] | None, audit: list[dict[str, Any]]
    ) -> None:
        db = self._conn()
        with db:
            if window is None:
                db.execute("DELETE FROM maintenance WHERE device = ?", (device,))
            else:
                db.execute(
                    "INSERT INTO maintenance(device, body) VALUES (?, ?)"
                    " ON CONFLICT(device) DO UPDATE SET body=excluded.body",
                    (device, json.dumps(window, ensure_ascii=False)),
                )
            AUDIT.append(db, (((DEVICE_SUBJECT + device,), entry) for entry in audit))

    async def load_maintenance(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = await self._run(self._load_maintenance)
        return found

    def _load_maintenance(self) -> dict[str, dict[str, Any]]:
        cur = self._conn().execute("SELECT device, body FROM maintenance")
        return {device: json.loads(body) for device, body in cur}

    async def device_audit_trail(self, device: str) -> list[dict[str, Any]]:
        return await self.audit_trail(DEVICE_SUBJECT + device)

    async def load_recent(self, since: float, limit: int = 10_000) -> list[dict[str, Any]]:
        """Records not closed, and records changed since ``since`` (for reopening and views)."""
        return await self.call(
            json_bodies,
            "SELECT body FROM alarms WHERE status != 'closed' OR updated >= ? ORDER BY updated DESC LIMIT ?",
            (since, limit),
        )

    async def get(self, alarm_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._run(self._get, alarm_id)
        return found

    def _get(self, alarm_id: str) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT body FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    async def audit_trail(self, alarm_id: str) -> list[dict[str, Any]]:
        return await self.call(AUDIT.trail, (alarm_id,))
