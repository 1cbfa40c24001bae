"""Weather warnings in SQLite (WAL) beside the alarm store: records, their audit trail, and the
outbox of ``…/warnings`` messages still to publish. Written off the event loop.

Records are JSON documents keyed by id (``gateway.weather`` owns their shape). A record, its audit
entries and its outgoing message are saved in one transaction, so a crash never keeps a change
without the message that tells the platform about it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drivers.audit_table import AuditTable
from drivers.sqlite_file import SqliteFile, json_bodies

TABLES = """
CREATE TABLE IF NOT EXISTS warnings (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    live INTEGER NOT NULL,
    updated REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS warnings_live ON warnings(live, updated);
CREATE TABLE IF NOT EXISTS warning_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL
);
"""
AUDIT = AuditTable("warning_audit", ("warning_id",), index="warning_audit_id")
SCHEMA = TABLES + AUDIT.schema


class WarningStore(SqliteFile):
    def __init__(self, path: str | Path) -> None:
        # Few writes, each one a warning people act on: every commit reaches the disk.
        super().__init__(path, SCHEMA, synchronous="FULL", thread_name="warning-store")

    async def save(
        self,
        record: dict[str, Any],
        live: bool,
        audit: list[dict[str, Any]],
        outgoing: list[dict[str, Any]],
    ) -> None:
        await self._run(self._save, record, live, audit, outgoing)

    def _save(
        self, record: dict[str, Any], live: bool, audit: list[dict[str, Any]], outgoing: list[dict[str, Any]]
    ) -> None:
        db = self._conn()
        with db:
            db.execute(
                "INSERT INTO warnings(id, state, live, updated, body) VALUES (?,?,?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET state=excluded.state, live=excluded.live,"
                " updated=excluded.updated, body=excluded.body",
                (
                    record["id"],
                    record["state"],
                    int(live),
                    float(record["updated_at"]),
                    json.dumps(record, ensure_ascii=False),
                ),
            )
            AUDIT.append(db, (((record["id"],), e) for e in audit))
            db.executemany(
                "INSERT INTO warning_outbox(body) VALUES (?)",
                [(json.dumps(m, ensure_ascii=False, separators=(",", ":")),) for m in outgoing],
            )

    async def load_recent(self, since: float, limit: int = 5000) -> list[dict[str, Any]]:
        """Warnings in force (by state), and those changed since ``since``, newest first."""
        return await self.call(
            json_bodies,
            "SELECT body FROM warnings WHERE live = 1 OR updated >= ? ORDER BY updated DESC LIMIT ?",
            (since, limit),
        )

    async def audit_trail(self, warning_id: str) -> list[dict[str, Any]]:
        return await self.call(AUDIT.trail, (warning_id,))

    async def outgoing(self, limit: int = 100) -> list[tuple[int, str]]:
        """The oldest messages not yet published: (seq, JSON text)."""
        rows: list[tuple[int, str]] = await self._run(self._outgoing, limit)
        return rows

    def _outgoing(self, limit: int) -> list[tuple[int, str]]:
        cur = self._conn().execute("SELECT seq, body FROM warning_outbox ORDER BY seq LIMIT ?", (limit,))
        return [(int(seq), str(body)) for seq, body in cur]

    async def published(self, seqs: list[int]) -> None:
        await self._run(self._published, seqs)

    def _published(self, seqs: list[int]) -> None:
        db = self._conn()
        with db:
            db.executemany("DELETE FROM warning_outbox WHERE seq = ?", [(s,) for s in seqs])
