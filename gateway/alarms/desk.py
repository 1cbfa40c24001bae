"""The alarm desk: alarm records through their lifecycle, escalation (督办) and the notices to push.

It is a sink: alarm events from the analytics arrive through ``write`` (so a failure keeps the batch
and it is offered again; events already applied are recognised by id). People act through ``ack``,
``assign`` and ``close``. Every change is saved with its audit entries before any notice about it
is handed on, so a crash loses neither the record nor a due push.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from drivers.alarm_store import AlarmStore
from gateway.alarms import shelving
from gateway.alarms.controls import SYSTEM, DeskControls
from gateway.alarms.controls import entry as _entry
from gateway.alarms.maintenance import MaintenanceBook
from gateway.alarms.notice import Notice, NoticeKind
from gateway.alarms.record import AlarmRecord, Status
from gateway.config.alarm_handling import AlarmsConfig
from gateway.vocab import AlarmConflictError, AlarmEvent, AlarmNotFoundError, AlarmState, SinkBatch

log = logging.getLogger(__name__)

KEEP_EVENT_IDS = 64  # per record, to recognise an event offered twice
# Records changed within this long are kept in memory (views, reopening); older closed ones are not.
KEEP_CLOSED_S = 7 * 86400.0

Notify = Callable[[list[Notice]], Awaitable[object]]  # stores the notices before returning


class AlarmDesk(DeskControls):
    """Shelving and maintenance (检修) are in ``DeskControls`` (gateway.alarms.controls)."""

    name = "alarms"

    def __init__(
        self,
        site: str,
        config: AlarmsConfig,
        store: AlarmStore,
        where: dict[str, tuple[str, str]],
        notify: Notify | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.site = site
        self.config = config
        self.store = store
        self._where = where  # channel id -> (device id, position)
        self._notify = notify
        self.clock = clock
        self.records: dict[str, AlarmRecord] = {}
        self.notices_made = 0
        self.devices = {device for device, _ in where.values()}
        self.maintenance = MaintenanceBook()
        self.shelved_notices = 0  # pushes not made because their alarm was shelved

    # Sink contract

    async def __aenter__(self) -> AlarmDesk:
        await self.store.__aenter__()
        since = self.clock() - KEEP_CLOSED_S
        for data in await self.store.load_recent(since):
            record = AlarmRecord.from_store(data)
            self.records[record.id] = record
        self.maintenance.load(await self.store.load_maintenance())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.store.__aexit__(*exc_info)

    async def write(self, batch: SinkBatch) -> None:
        for event in batch.events:
            await self.apply(event)

    # The data's side

    def reopen_id(self, channel: str, rule: str, ts: float) -> str | None:
        """The record a raise of (channel, rule) at data time ``ts`` reopens, if any."""
        window = self.config.reopen_window_s
        best: AlarmRecord | None = None
        for record in self.records.values():
            if (
                record.channel == channel
                and record.rule == rule
                and not record.active
                and record.status != Status.CLOSED
                and record.cleared_ts is not None
                and 0 <= ts - record.cleared_ts <= window
                and (best is None or record.cleared_ts > (best.cleared_ts or 0))
            ):
                best = record
        return None if best is None else best.id

    async def retire(self, alarm_id: str, note: str) -> None:
        """End a record the data no longer follows (a second active record of one (channel, rule),
        left by an older version): inactive, audited, no notice."""
        record = self._find(alarm_id)
        now = self.clock()
        record.active, record.state = False, AlarmState.CLEARED
        record.cleared_ts, record.escalate_at, record.updated = now, None, now
        await self._save(record, [_entry(now, SYSTEM, "superseded", note)], [])

    def is_closed(self, alarm_id: str) -> bool:
        record = self.records.get(alarm_id)
        return record is not None and record.status == Status.CLOSED

    async def apply(self, event: AlarmEvent) -> None:
        record = self.records.get(event.alarm_id)
        if record is not None and event.id in record.events:
            return  # offered again after a failed write: already applied
        now = self.clock()
        audit: list[dict[str, Any]] = []
        kinds: list[str] = []
        device, position = self._where.get(event.channel, (event.channel.rsplit(".", 1)[0], ""))
        if record is None and self.maintenance.hold(device, event):
            return  # the device is in maintenance (检修): no record, no push; counted
        breaks_shelf = (
            record is not None and record.shelf is not None and shelving.rises_to_red(record, event.grade)
        )
        if record is None:
            record = AlarmRecord(
                id=event.alarm_id,
                site=event.site,
                channel=event.channel,
                rule=event.rule,
                unit=event.unit,
                device=device,
                position=position,
                grade=event.grade,
                max_grade=event.grade,
                state=event.state,
                active=True,
                raised_ts=event.ts,
                updated=now,
            )
            self.records[record.id] = record
        elif event.state == AlarmState.RAISED:
            record.reopened += 1
            record.cleared_ts = None
        record.grade = event.grade
        record.max_grade = max(record.max_grade, event.grade)
        record.state = event.state
        record.active = event.state != AlarmState.CLEARED
        record.value, record.limit = event.value, event.limit
        record.message, record.forecast = event.message, event.forecast
        record.detail = event.detail
        record.updated = now
        record.events = [*record.events, event.id][-KEEP_EVENT_IDS:]
        audit.append(
            _entry(now, SYSTEM, event.state, event.message, {"event": event.id, "grade": event.grade})
        )
        if breaks_shelf:  # a rise to red is pushed whatever the shelf said
            detail = shelving.unshelve(record)
            audit.append(_entry(now, SYSTEM, "unshelved", "rose to red while shelved", detail))

        notices: list[Notice] = []
        if event.state == AlarmState.CLEARED:
            record.cleared_ts = event.ts
            record.escalate_at = None
            if self.config.notify_cleared:
                kinds.append(NoticeKind.CLEARED)
        elif event.state == AlarmState.RAISED:
            notices += self._first_notices(record, now)
        else:
            kind = NoticeKind.ESCALATED if event.state == AlarmState.ESCALATED else NoticeKind.DEESCALATED
            kinds.append(kind)
            if record.status == Status.OPEN:
                deadline = now + self.config.deadlines_s.of(record.grade)
                record.escalate_at = min(record.escalate_at or deadline, deadline)
            if event.state == AlarmState.ESCALATED and self._red_to_all(record) and self.config.tiers:
                record.tier = len(self.config.tiers) - 1  # red: every tier, at once
        for kind in kinds:
            notices += self._tell(record, range(record.tier + 1), kind, now)
        await self._save(record, audit, notices)

    def _red_to_all(self, record: AlarmRecord) -> bool:
        return record.grade >= 3 and self.config.red_to_all_tiers

    def _first_notices(self, record: AlarmRecord, now: float) -> list[Notice]:
        tiers = self.config.tiers
        if not tiers:
            return []
        last = len(tiers) - 1
        told = range(last + 1) if self._red_to_all(record) else range(max(record.tier, 0) + 1)
        record.tier = max(told)
        if record.status == Status.OPEN and record.tier < last:
            record.escalate_at = now + self.config.deadlines_s.of(record.grade)
        return self._tell(record, told, NoticeKind.RAISED, now)

    # Escalation (督办) and reminders: the runtime calls this every second or so.

    async def escalate_due(self) -> int:
        now = self.clock()
        tiers = self.config.tiers
        count = await self._end_due(now)
        for record in list(self.records.values()):
            if record.status != Status.OPEN or not record.active:
                continue
            if record.shelf is not None or self.maintenance.covers(record.device):
                continue  # paused while shelved or in maintenance; resumes when that ends
            notices: list[Notice] = []
            audit: list[dict[str, Any]] = []
            if record.escalate_at is not None and now >= record.escalate_at and record.tier < len(tiers) - 1:
                record.tier += 1
                extra = {"tier": tiers[record.tier].name}
                notices += self._tell(record, [record.tier], NoticeKind.OVERDUE, now, extra)
                audit.append(
                    _entry(now, SYSTEM, "escalated_to_tier", tiers[record.tier].name, {"tier": record.tier})
                )
                more = record.tier < len(tiers) - 1
                record.escalate_at = now + self.config.deadlines_s.of(record.grade) if more else None
            elif (
                self.config.renotify_s > 0
                and record.notified_at is not None
                and now - record.notified_at >= self.config.renotify_s
            ):
                notices += self._tell(record, range(record.tier + 1), NoticeKind.REMINDER, now)
            if notices or audit:
                record.updated = now
                await self._save(record, audit, notices)
                count += len(notices)
        return count

    async def run_escalation(self, period_s: float = 1.0) -> None:
        while True:
            await self.escalate_due()
            await asyncio.sleep(period_s)

    # The people's side

    def _find(self, alarm_id: str) -> AlarmRecord:
        record = self.records.get(alarm_id)
        if record is None:
            raise AlarmNotFoundError(alarm_id)
        return record

    async def find(self, alarm_id: str) -> AlarmRecord:
        """A record in memory, or an old one from the store."""
        record = self.records.get(alarm_id)
        if record is None:
            data = await self.store.get(alarm_id)
            if data is None:
                raise AlarmNotFoundError(alarm_id)
            record = AlarmRecord.from_store(data)
        return record

    async def ack(self, alarm_id: str, actor: str, note: str = "") -> AlarmRecord:
        record = self._find(alarm_id)
        if record.status == Status.CLOSED:
            raise AlarmConflictError(alarm_id, "the alarm is closed")
        if record.status != Status.OPEN:
            raise AlarmConflictError(alarm_id, f"already {record.status} by {record.acked_by}")
        now = self.clock()
        record.status = Status.ACKNOWLEDGED
        record.acked_by, record.acked_at = actor, now
        record.escalate_at = None  # acknowledging stops the escalation
        record.updated = now
        notices = self._tell(record, range(record.tier + 1), NoticeKind.ACKNOWLEDGED, now, _who(actor, note))
        await self._save(record, [_entry(now, actor, "acknowledged", note)], notices)
        return record

    async def assign(
        self, alarm_id: str, actor: str, assignee: str, deadline: float | None, note: str = ""
    ) -> AlarmRecord:
        record = self._find(alarm_id)
        if record.status == Status.CLOSED:
            raise AlarmConflictError(alarm_id, "the alarm is closed")
        now = self.clock()
        audit = []
        if record.status == Status.OPEN:  # assigning implies acknowledging
            record.acked_by, record.acked_at = actor, now
            record.escalate_at = None
            audit.append(_entry(now, actor, "acknowledged", note))
        record.status = Status.RECTIFYING
        record.assignee, record.rectify_deadline = assignee, deadline
        record.updated = now
        audit.append(_entry(now, actor, "rectifying", note, {"assignee": assignee, "deadline": deadline}))
        await self._save(record, audit, [])
        return record

    async def close(
        self, alarm_id: str, actor: str, note: str, override_reason: str | None = None
    ) -> AlarmRecord:
        record = self._find(alarm_id)
        if record.status == Status.CLOSED:
            raise AlarmConflictError(alarm_id, f"already closed by {record.closed_by}")
        if record.active and not (override_reason and override_reason.strip()):
            raise AlarmConflictError(
                alarm_id, "the alarm is still active in the data: give an override reason to close it"
            )
        now = self.clock()
        record.status = Status.CLOSED
        record.closed_by, record.closed_at, record.close_note = actor, now, note
        record.override_reason = override_reason if record.active else None
        record.escalate_at = None
        record.updated = now
        detail = {"override_reason": override_reason} if record.active else {}
        audit = [_entry(now, actor, "closed", note, detail)]
        if record.shelf is not None:
            audit.append(_entry(now, actor, "unshelved", "closed", shelving.unshelve(record)))
        notices = self._tell(record, range(record.tier + 1), NoticeKind.CLOSED, now, _who(actor, note))
        await self._save(record, audit, notices)
        return record

    async def audit_trail(self, alarm_id: str) -> list[dict[str, Any]]:
        return await self.store.audit_trail(alarm_id)

    def listing(self) -> list[AlarmRecord]:
        """Active alarms first, newest change first; then the rest, newest first."""
        return sorted(self.records.values(), key=lambda r: (not r.active, -r.updated))

    # Notices

    def _tell(
        self,
        record: AlarmRecord,
        tiers: Iterable[int],
        kind: str,
        now: float,
        extra: dict[str, Any] | None = None,
    ) -> list[Notice]:
        """Notices of ``kind`` to the receivers of ``tiers``; ``extra`` is what the renderer reads
        beside the record: ``by`` and ``note`` (who acted), ``tier`` (the tier's name, for 督办)."""
        receivers: list[str] = []
        for index in tiers:
            if 0 <= index < len(self.config.tiers):
                receivers += [r for r in self.config.tiers[index].receivers if r not in receivers]
        if not receivers:
            return []
        if record.shelf is not None:
            self.shelved_notices += len(receivers)
            return []
        if self.maintenance.covers(record.device):
            self.maintenance.suppressed_notices += len(receivers)
            return []
        record.notified_at = now
        view = record.view()
        view["link"] = f"{self.config.dashboard_url.rstrip('/')}/#/alarms/{record.id}"
        return [
            Notice(
                id=uuid.uuid4().hex,
                receiver=receiver,
                kind=kind,
                ts=now,
                alarm=view,
                group=record.device,
                extra=dict(extra or {}),
            )
            for receiver in receivers
        ]

    async def _save(self, record: AlarmRecord, audit: list[dict[str, Any]], notices: list[Notice]) -> None:
        await self.store.save(record.to_store(), audit)
        if notices and self._notify is not None:
            await self._notify(notices)
            self.notices_made += len(notices)


def _who(actor: str, note: str) -> dict[str, Any]:
    return {"by": actor, "note": note} if note else {"by": actor}
