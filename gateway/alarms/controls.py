"""People's controls over the desk: shelving an alarm and maintenance (检修) of a device.

A mixin of ``AlarmDesk`` (gateway.alarms.desk), kept apart so the desk's lifecycle stays readable;
the rules themselves are in gateway.alarms.shelving and gateway.alarms.maintenance. Both kinds of
control are bounded in time and end by themselves: ``escalate_due`` calls ``_end_due`` every second.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from gateway.alarms import shelving
from gateway.alarms.maintenance import (
    MaintenanceBook,
    NotInMaintenanceError,
    UnknownDeviceError,
    Window,
    idle_view,
)
from gateway.alarms.notice import Notice, NoticeKind
from gateway.alarms.record import AlarmRecord, Status
from gateway.vocab import AlarmConflictError, AlarmEvent, AlarmState, new_event_id

if TYPE_CHECKING:
    from drivers.alarm_store import AlarmStore
    from gateway.config.alarm_handling import AlarmsConfig

SYSTEM = "system"


def entry(
    ts: float, actor: str, action: str, note: str, detail: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One audit entry."""
    return {"ts": ts, "actor": actor, "action": action, "note": note, "detail": detail or {}}


class DeskControls:
    if TYPE_CHECKING:  # provided by AlarmDesk (as far as these controls use it)
        config: AlarmsConfig
        store: AlarmStore
        clock: Callable[[], float]
        records: dict[str, AlarmRecord]
        notices_made: int
        devices: set[str]
        maintenance: MaintenanceBook
        shelved_notices: int

        def _find(self, alarm_id: str) -> AlarmRecord: ...

        async def apply(self, event: AlarmEvent) -> None: ...

        def _tell(self, record: AlarmRecord, tiers: Iterable[int], kind: str, now: float) -> list[Notice]: ...

        async def _save(
            self, record: AlarmRecord, audit: list[dict[str, Any]], notices: list[Notice]
        ) -> None: ...

    async def _end_due(self, now: float) -> int:
        """End the shelves and maintenance windows whose time is up; returns the notices made."""
        count = 0
        for window in self.maintenance.due(now):
            count += await self._end_maintenance(window.device, SYSTEM, "maintenance time ended", now)
        for record in list(self.records.values()):
            if shelving.expired(record, now):
                count += await self._end_shelf(record, SYSTEM, "shelving time ended", now)
        return count

    # Shelving (gateway.alarms.shelving)

    async def shelve(self, alarm_id: str, actor: str, reason: str, duration_s: float) -> AlarmRecord:
        """Shelve for ``duration_s`` (at most alarms.max_shelve_s) with a reason; shelving a shelved
        alarm again replaces its shelf. Raises DurationError, AlarmNotFoundError, AlarmConflictError."""
        record = self._find(alarm_id)
        reason = shelving.check_reason(reason, "shelve")
        shelving.check_duration(duration_s, self.config.max_shelve_s, "shelve")
        if record.status == Status.CLOSED:
            raise AlarmConflictError(alarm_id, "the alarm is closed")
        now = self.clock()
        detail = shelving.shelve(record, actor, reason, now + duration_s, now)
        record.updated = now
        await self._save(record, [entry(now, actor, "shelved", reason, detail)], [])
        return record

    async def unshelve(self, alarm_id: str, actor: str, note: str = "") -> AlarmRecord:
        record = self._find(alarm_id)
        if record.shelf is None:
            raise AlarmConflictError(alarm_id, "the alarm is not shelved")
        await self._end_shelf(record, actor, note, self.clock())
        return record

    async def _end_shelf(self, record: AlarmRecord, actor: str, note: str, now: float) -> int:
        """Off the shelf; an alarm still active and open is reminded to its tiers and escalates on."""
        audit = [entry(now, actor, "unshelved", note, shelving.unshelve(record))]
        record.updated = now
        notices: list[Notice] = []
        if record.active and record.status == Status.OPEN:
            self._resume_escalation(record, now)
            notices = self._tell(record, range(record.tier + 1), NoticeKind.REMINDER, now)
        await self._save(record, audit, notices)
        return len(notices)

    def _resume_escalation(self, record: AlarmRecord, now: float) -> None:
        if 0 <= record.tier < len(self.config.tiers) - 1:
            record.escalate_at = now + self.config.deadlines_s.of(record.grade)

    # Maintenance (检修, gateway.alarms.maintenance)

    def _device(self, device: str) -> str:
        if device not in self.devices:
            raise UnknownDeviceError(device)
        return device

    def maintenance_view(self, device: str) -> dict[str, Any]:
        window = self.maintenance.window(self._device(device))
        return idle_view(device) if window is None else window.view()

    async def maintenance_trail(self, device: str) -> list[dict[str, Any]]:
        return await self.store.device_audit_trail(self._device(device))

    async def start_maintenance(self, device: str, actor: str, reason: str, duration_s: float) -> Window:
        """Put ``device`` in maintenance for ``duration_s`` (at most alarms.max_maintenance_s);
        again while in maintenance: the new window replaces the old. Raises UnknownDeviceError,
        DurationError."""
        self._device(device)
        reason = shelving.check_reason(reason, "maintenance")
        shelving.check_duration(duration_s, self.config.max_maintenance_s, "maintenance")
        now = self.clock()
        window = Window(device, now, now + duration_s, actor, reason)
        before = self.maintenance.start(window)
        detail: dict[str, Any] = {"until": window.until}
        if before is not None:
            detail["replaces_until"] = before.until
        await self.store.save_maintenance(
            device, window.to_store(), [entry(now, actor, "maintenance_started", reason, detail)]
        )
        return window

    async def end_maintenance(self, device: str, actor: str, note: str = "") -> int:
        """End it now; returns the notices made for alarms still active. Raises NotInMaintenanceError."""
        if not self.maintenance.covers(self._device(device)):
            raise NotInMaintenanceError(device)
        return await self._end_maintenance(device, actor, note, self.clock())

    async def _end_maintenance(self, device: str, actor: str, note: str, now: float) -> int:
        window, still_active = self.maintenance.end(device)
        detail: dict[str, Any] = {"raised": [e.alarm_id for e in still_active]}
        if window is not None:
            detail["until"] = window.until
        await self.store.save_maintenance(
            device, None, [entry(now, actor, "maintenance_ended", note, detail)]
        )
        before = self.notices_made
        for event in still_active:
            # What the data still says once the work is done is raised now, as a new alarm.
            await self.apply(dataclasses.replace(event, id=new_event_id(), state=AlarmState.RAISED))
        raised = {event.alarm_id for event in still_active}
        for record in list(self.records.values()):
            if record.device != device or record.id in raised:
                continue
            if record.active and record.status == Status.OPEN:
                # From before the maintenance and still active: remind its tiers, escalate again.
                self._resume_escalation(record, now)
                await self._save(
                    record, [], self._tell(record, range(record.tier + 1), NoticeKind.REMINDER, now)
                )
        return self.notices_made - before

    def controls_health(self) -> dict[str, Any]:
        """Shelving and maintenance, for health."""
        return {
            "shelved": sum(1 for r in self.records.values() if r.shelf is not None),
            "maintenance": [w.view() for w in self.maintenance.windows.values()],
            "suppressed": {
                "shelved_notices": self.shelved_notices,
                "maintenance_events": self.maintenance.suppressed_events,
                "maintenance_notices": self.maintenance.suppressed_notices,
                "maintenance_held": self.maintenance.held_count(),
            },
        }
