"""The push outbox in SQLite (WAL): notices waiting for their receiver, written off the event loop.

A notice is a JSON document keyed by its id (the gateway owns its shape). It stays in ``outbox``
until its receiver accepted it or refused it for good; then its id moves to ``outbox_done`` for a
bounded time, so the same notice enqueued again (a desk replaying after a crash) is not sent twice.

``synchronous=FULL``: ``enqueue`` promises the caller that the notice survives, and a site gateway
loses power more often than a server does. NORMAL in WAL mode survives a killed process but may lose
the last commits on power loss. The outbox commits a few times per alarm burst, not per reading, so
the fsync per commit costs little.

The tables carry an ``outbox_`` prefix so the outbox may share a file with the alarm store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from drivers.sqlite_file import SqliteFile
from gateway.vocab import RetryableSinkError

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    receiver TEXT NOT NULL,
    ts REAL NOT NULL,
    enqueued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_receiver_ts ON outbox(receiver, ts, seq);
CREATE INDEX IF NOT EXISTS outbox_receiver_due ON outbox(receiver, next_attempt_at);
CREATE TABLE IF NOT EXISTS outbox_done (
    id TEXT PRIMARY KEY,
    receiver TEXT NOT NULL,
    done_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS outbox_done_at ON outbox_done(done_at);
"""

DELIVERED = "delivered"
REJECTED = "rejected"

# Pruning the done table on every commit would cost a scan per send; once a minute is plenty.
_PRUNE_EVERY_S = 60.0


class OutboxEntry(NamedTuple):
    """What ``enqueue`` takes: one notice for one receiver, as JSON text."""

    id: str
    receiver: str
    ts: float  # when the notice was made; pending notices go out in this order
    body: str


@dataclass(frozen=True, slots=True)
class PendingNotice:
    id: str
    receiver: str
    ts: float
    body: str
    enqueued_at: float
    attempts: int
    next_attempt_at: float
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Backlog:
    """One receiver's waiting notices."""

    pending: int
    oldest_enqueued_at: float | None  # None when nothing waits
    next_attempt_at: float | None  # the earliest one


@dataclass(frozen=True, slots=True)
class Enqueued:
    added: list[OutboxEntry]  # the new ones; known ids are left out
    backlogs: dict[str, Backlog]  # of the receivers named in the call, right after the commit


class OutboxStore(SqliteFile):
    """Durable queue of notices per receiver.

    Enter it before any other call; nothing is called after exit. SQLite errors (locked, disk full,
    I/O) are raised as RetryableSinkError: nothing was written and the caller may try again.
    """

    name = "outbox"

    def __init__(
        self,
        path: str | Path,
        done_keep_s: float = 86_400.0,
        done_keep_max: int = 100_000,
    ) -> None:
        # FULL: enqueue promises the notice is on disk, and site PCs lose power.
        super().__init__(path, SCHEMA, synchronous="FULL", thread_name="outbox")
        self.done_keep_s = done_keep_s
        self.done_keep_max = done_keep_max
        self._pruned_at = float("-inf")

    # The queue

    async def enqueue(self, entries: Sequence[OutboxEntry], now: float, due_at: float) -> Enqueued:
        """Store the notices durably (committed when this returns).

        An id already waiting, or delivered or refused within the retention, is ignored.
        ``due_at`` is the first time they may be sent.
        """
        enqueued: Enqueued = await self._run(self._enqueue, list(entries), now, due_at)
        return enqueued

    async def pending(self, receiver: str, limit: int) -> list[PendingNotice]:
        """The receiver's waiting notices, oldest (by notice time) first."""
        rows: list[PendingNotice] = await self._run(self._pending, receiver, limit)
        return rows

    async def backlog(self, receiver: str) -> Backlog:
        backlog: Backlog = await self._run(self._backlog, receiver)
        return backlog

    async def backlogs(self) -> dict[str, Backlog]:
        """Every receiver with waiting notices."""
        backlogs: dict[str, Backlog] = await self._run(self._backlogs)
        return backlogs

    async def delivered(self, ids: Iterable[str], now: float) -> None:
        """The receiver accepted them: out of the queue, remembered as done."""
        await self._run(self._finish, list(ids), now, DELIVERED, None)

    async def rejected(self, ids: Iterable[str], now: float, reason: str) -> None:
        """The receiver refused them for good: out of the queue, remembered with the reason."""
        await self._run(self._finish, list(ids), now, REJECTED, reason)

    async def failed(self, ids: Iterable[str], error: str, next_attempt_at: float) -> None:
        """An attempt failed; they stay, with one more attempt counted and the next time to try."""
        await self._run(self._failed, list(ids), error, next_attempt_at)

    async def outcome(self, notice_id: str) -> str | None:
        """``pending``, ``delivered``, ``rejected``, or None if unknown (or forgotten)."""
        outcome: str | None = await self._run(self._outcome, notice_id)
        return outcome

    # Off the loop

    async def _run(self, fn: Any, *args: Any) -> Any:
        try:
            return await super()._run(fn, *args)
        except sqlite3.OperationalError as exc:
            raise RetryableSinkError(self.name, str(exc)) from exc

    def _enqueue(self, entries: list[OutboxEntry], now: float, due_at: float) -> Enqueued:
        db = self._conn()
        added = []
        with db:
            for e in entries:
                cur = db.execute(
                    "INSERT INTO outbox(id, receiver, ts, enqueued_at, next_attempt_at, body)"
                    " SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM outbox_done WHERE id = ?)"
                    " ON CONFLICT(id) DO NOTHING",
                    (e.id, e.receiver, e.ts, now, due_at, e.body, e.id),
                )
                if cur.rowcount > 0:
                    added.append(e)
        receivers = dict.fromkeys(e.receiver for e in entries)
        return Enqueued(added, {r: self._backlog(r) for r in receivers})

    def _pending(self, receiver: str, limit: int) -> list[PendingNotice]:
        cur = self._conn().execute(
            "SELECT id, receiver, ts, body, enqueued_at, attempts, next_attempt_at, last_error"
            " FROM outbox WHERE receiver = ? ORDER BY ts, seq LIMIT ?",
            (receiver, limit),
        )
        return [PendingNotice(*row) for row in cur]

    def _backlog(self, receiver: str) -> Backlog:
        row = (
            self._conn()
            .execute(
                "SELECT count(*), min(enqueued_at), min(next_attempt_at) FROM outbox WHERE receiver = ?",
                (receiver,),
            )
            .fetchone()
        )
        return Backlog(*row)

    def _backlogs(self) -> dict[str, Backlog]:
        cur = self._conn().execute(
            "SELECT receiver, count(*), min(enqueued_at), min(next_attempt_at) FROM outbox GROUP BY receiver"
        )
        return {receiver: Backlog(n, oldest, due) for receiver, n, oldest, due in cur}

    def _finish(self, ids: list[str], now: float, outcome: str, reason: str | None) -> None:
        db = self._conn()
        with db:
            db.executemany(
                "INSERT OR REPLACE INTO outbox_done(id, receiver, done_at, outcome, reason)"
                " SELECT id, receiver, ?, ?, ? FROM outbox WHERE id = ?",
                [(now, outcome, reason, i) for i in ids],
            )
            db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            if now - self._pruned_at >= _PRUNE_EVERY_S:
                self._pruned_at = now
                self._prune(db, now)

    def _prune(self, db: sqlite3.Connection, now: float) -> None:
        db.execute("DELETE FROM outbox_done WHERE done_at < ?", (now - self.done_keep_s,))
        db.execute(
            "DELETE FROM outbox_done WHERE id IN"
            " (SELECT id FROM outbox_done ORDER BY done_at DESC LIMIT -1 OFFSET ?)",
            (self.done_keep_max,),
        )

    def _failed(self, ids: list[str], error: str, next_attempt_at: float) -> None:
        db = self._conn()
        with db:
            db.executemany(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                [(error, next_attempt_at, i) for i in ids],
            )

    def _outcome(self, notice_id: str) -> str | None:
        db = self._conn()
        if db.execute("SELECT 1 FROM outbox WHERE id = ?", (notice_id,)).fetchone():
            return "pending"
        row = db.execute("SELECT outcome FROM outbox_done WHERE id = ?", (notice_id,)).fetchone()
        return None if row is None else str(row[0])
