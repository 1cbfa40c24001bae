"""The warning desk: CAP documents in, warning records kept and restored, changes handed on.

Every change is saved (record, audit entry and the ``…/warnings`` message, one transaction) before
anything else hears of it, so a crash loses neither the warning nor the message about it. Changes
are applied one at a time, in arrival order, whatever the number of callers.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from drivers.cap.lifecycle import Applied, WarningBook
from drivers.cap.parse import CapError, parse_cap
from drivers.cap.warning import Change, WarningRecord
from drivers.warning_store import WarningStore
from gateway.vocab import AlarmEvent, iso_utc

log = logging.getLogger(__name__)

KEEP_S = 7 * 86400.0  # ended warnings kept in memory (views) this long
EXPIRE_EVERY_S = 5.0
INLINE_PARSE_BYTES = 32 * 1024
SYSTEM = "system"


class WarningNotFoundError(LookupError):
    pass


class Listener(Protocol):
    """Told of every saved change (the ``…/warnings`` publisher); a failing one is logged, the desk
    goes on."""

    async def changed(self, applied: list[Applied]) -> None: ...


class WarningDesk:
    def __init__(
        self,
        site: str,
        book: WarningBook,
        store: WarningStore,
        clock: Callable[[], float] = time.time,
        prepare: Callable[[Applied, float], list[AlarmEvent]] | None = None,
        emit: Callable[[list[AlarmEvent]], None] | None = None,
        publishes: bool = True,
    ) -> None:
        """``prepare`` fills in what a change means for the site (actions, alarm events) before it
        is saved; ``emit`` hands the alarm events on once saved (to the pipeline's sinks);
        ``publishes``: each change's ``…/warnings`` message is stored for the publisher."""
        self.site = site
        self.book = book
        self.store = store
        self.clock = clock
        self._prepare = prepare
        self._emit = emit
        self.publishes = publishes
        self.listeners: list[Listener] = []
        self._lock = asyncio.Lock()
        self.received = 0
        self.refused: dict[str, int] = {}

    async def __aenter__(self) -> WarningDesk:
        await self.store.__aenter__()
        rows = await self.store.load_recent(self.clock() - KEEP_S)
        self.book.load(WarningRecord.from_store(r) for r in reversed(rows))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.store.__aexit__(*exc_info)

    # In

    def refuse(self, reason: str) -> None:
        """Count a refused document by reason (for health and metrics)."""
        self.refused[reason] = self.refused.get(reason, 0) + 1

    async def receive(self, document: bytes) -> list[Applied]:
        """Parse and apply one CAP document; raises ``CapError`` (counted) when it is refused."""
        try:
            # A large document (1 MiB parses in ~80 ms) is parsed off the event loop: alarms never
            # wait for it. A small one is parsed in place (a thread hop costs more than it).
            if len(document) > INLINE_PARSE_BYTES:
                alert = await asyncio.to_thread(parse_cap, document)
            else:
                alert = parse_cap(document)
        except CapError as exc:
            self.refuse(exc.reason)
            raise
        async with self._lock:
            self.received += 1
            applied = self.book.apply(alert, self.clock())
            if len(applied) == 1 and applied[0].note == "duplicate":
                return applied
            await self._saved(applied, alert.msg_type.lower())
        return applied

    async def expire(self) -> list[Applied]:
        async with self._lock:
            now = self.clock()
            applied = self.book.expire(now)
            if applied:
                await self._saved(applied, "expired")
            self.book.forget_before(now - KEEP_S)
        return applied

    async def run_expiry(self) -> None:
        while True:
            await asyncio.sleep(EXPIRE_EVERY_S)
            await self.expire()

    async def apply_local(self, applied: list[Applied]) -> None:
        """Changes the site's own signals made to their records (``gateway.weather.local``)."""
        async with self._lock:
            for a in applied:
                self.book.records[a.record.id] = a.record
            await self._saved(applied, "local")

    async def _saved(self, applied: list[Applied], action: str) -> None:
        now = self.clock()
        events: list[AlarmEvent] = []
        for a in applied:
            if self._prepare is not None:
                events += self._prepare(a, now)
            entry = {
                "ts": now,
                "actor": SYSTEM,
                "action": action,
                "note": a.note,
                "detail": {"change": a.change},
            }
            await self.store.save(a.record.to_store(), a.record.in_force, [entry], self._outgoing(a, now))
        if events and self._emit is not None:
            self._emit(events)
        await self._tell(applied)

    async def _tell(self, applied: list[Applied]) -> None:
        for listener in self.listeners:
            try:
                await listener.changed(applied)
            except Exception:
                log.exception("weather warnings: a listener failed on %d change(s)", len(applied))

    def _outgoing(self, applied: Applied, now: float) -> list[dict[str, Any]]:
        # Without an uplink to publish them, messages would only pile up in the store.
        return [self.message(applied, now)] if self.publishes else []

    def message(self, applied: Applied, now: float) -> dict[str, Any]:
        """The ``…/warnings`` message for a change: its own id (consumers drop duplicates by it)."""
        return {
            "id": uuid.uuid4().hex,
            "site": self.site,
            "ts": iso_utc(now),
            "change": applied.change,
            "note": applied.note,
            "warning": applied.record.view(),
        }

    # Views

    def listing(self) -> list[WarningRecord]:
        """In force first, then the others; newest change first within each."""
        records = sorted(self.book.records.values(), key=lambda r: r.updated_at, reverse=True)
        return sorted(records, key=lambda r: not r.in_force)

    def find(self, warning_id: str) -> WarningRecord:
        record = self.book.records.get(warning_id)
        if record is None:
            raise WarningNotFoundError(warning_id)
        return record

    async def audit_trail(self, warning_id: str) -> list[dict[str, Any]]:
        return await self.store.audit_trail(warning_id)

    def health(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "refused": dict(self.refused),
            "in_force": sum(1 for r in self.book.records.values() if r.in_force),
            "kept": len(self.book.records),
        }

    # People

    async def acknowledge(self, warning_id: str, actor: str, done: list[str], note: str) -> WarningRecord:
        """A supervisor saw the warning and ticks the actions done (unknown action ids: ValueError)."""
        async with self._lock:
            record = self.find(warning_id)
            known = {a["id"] for a in record.actions}
            unknown = [d for d in done if d not in known]
            if unknown:
                raise ValueError(f"no such action on this warning: {', '.join(sorted(unknown))}")
            now = self.clock()
            for action in record.actions:
                if action["id"] in done and not action.get("done"):
                    action["done"], action["done_by"], action["done_at"] = True, actor, now
            record.acknowledged_by = record.acknowledged_by or actor
            record.acknowledged_at = record.acknowledged_at or now
            if note:
                record.ack_note = note
            record.updated_at = now
            applied = Applied(record, Change.ACKNOWLEDGED, note)
            entry = {
                "ts": now,
                "actor": actor,
                "action": "acknowledged",
                "note": note,
                "detail": {"done": done},
            }
            await self.store.save(record.to_store(), record.in_force, [entry], self._outgoing(applied, now))
            await self._tell([applied])
        return record
