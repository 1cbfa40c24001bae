"""Maintenance (检修): a device is out of service for a bounded time, so it raises nothing.

While a device is in maintenance its readings are still judged and stored, but the desk makes no
alarm record and no push for its channels: each alarm event that would have opened a record is
counted as suppressed and its latest state is held here. An alarm recorded before the maintenance
began follows the data (so it can clear) without pushes or escalation. When the maintenance ends
(at its end time or by a supervisor), the held alarms still active in the data are raised then, so
a fault that outlasts the work is not lost. Windows are stored with the alarms, audited per device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.vocab import AlarmEvent, AlarmState, iso_utc


class UnknownDeviceError(LookupError):
    def __init__(self, device: str) -> None:
        self.device = device
        super().__init__(f"no device {device!r} in the site file")


class NotInMaintenanceError(Exception):
    def __init__(self, device: str) -> None:
        self.device = device
        self.reason = f"device {device} is not in maintenance"
        super().__init__(self.reason)


@dataclass(frozen=True, slots=True)
class Window:
    device: str
    since: float
    until: float
    by: str
    reason: str

    def to_store(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "by": self.by, "reason": self.reason}

    @classmethod
    def from_store(cls, device: str, data: dict[str, Any]) -> Window:
        return cls(device, float(data["since"]), float(data["until"]), str(data["by"]), str(data["reason"]))

    def view(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "in_maintenance": True,
            "since": iso_utc(self.since),
            "until": iso_utc(self.until),
            "by": self.by,
            "reason": self.reason,
        }


def idle_view(device: str) -> dict[str, Any]:
    return {
        "device": device,
        "in_maintenance": False,
        "since": None,
        "until": None,
        "by": None,
        "reason": None,
    }


class MaintenanceBook:
    """The devices in maintenance and the alarms they would have raised meanwhile."""

    def __init__(self) -> None:
        self.windows: dict[str, Window] = {}
        # alarm id -> (device, latest event) of alarms kept off the desk, still active in the data
        self._held: dict[str, tuple[str, AlarmEvent]] = {}
        self.suppressed_events = 0  # alarm events that made no record because of maintenance
        self.suppressed_notices = 0  # pushes not made for records of a device in maintenance

    def load(self, stored: dict[str, dict[str, Any]]) -> None:
        self.windows = {device: Window.from_store(device, data) for device, data in stored.items()}

    def window(self, device: str) -> Window | None:
        return self.windows.get(device)

    def covers(self, device: str) -> bool:
        """In maintenance (until the desk ends the window, also just after its end time)."""
        return device in self.windows

    def due(self, now: float) -> list[Window]:
        """Windows whose end time has come."""
        return [w for w in self.windows.values() if now >= w.until]

    def start(self, window: Window) -> Window | None:
        """Start (or replace) a window; returns the one it replaced."""
        before = self.windows.get(window.device)
        self.windows[window.device] = window
        return before

    def hold(self, device: str, event: AlarmEvent) -> bool:
        """Keep ``event`` off the desk if its device is in maintenance or its alarm is held."""
        if not self.covers(device) and event.alarm_id not in self._held:
            return False
        self.suppressed_events += 1
        if event.state == AlarmState.CLEARED:
            self._held.pop(event.alarm_id, None)
        else:
            self._held[event.alarm_id] = (device, event)
        return True

    def end(self, device: str) -> tuple[Window | None, list[AlarmEvent]]:
        """End the device's window; returns it and the held alarms still active, to raise now."""
        window = self.windows.pop(device, None)
        released = [event for d, event in self._held.values() if d == device]
        for event in released:
            del self._held[event.alarm_id]
        return window, released

    def held_count(self) -> int:
        return len(self._held)
