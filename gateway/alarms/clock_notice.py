"""A quality notice for a device whose clock is off: raised once, cleared when its clock is good again.

The MQTT intake tells it, for every message with a device time, how far the newest stamp is from the
gateway's clock at arrival. The notice goes out as an alarm event of a quality kind (channel
``<device>.clock``, rule ``device_clock``, value the offset in seconds), through the same alarm book
and pipeline as every other notice.

Ahead beyond the tolerance is never right, so it raises at once. Behind is also what a DTU's backlog
after a 4G outage looks like, but a backlog catches up (its offset shrinks from message to message);
a clock that is behind keeps the same offset. So behind raises only when the offset has stayed
within the tolerance of itself for ``max(tolerance, 60 s)`` of arrival time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analytics import Transitions
from gateway.alarms.book import NEVER_REOPEN, AlarmBook, Reopening
from gateway.config import MqttDeviceConfig, QualityRuleConfig
from gateway.vocab import AlarmEvent, AlarmState

RULE = "device_clock"
QUANTITY = "clock"
# The grade a quality rule raises its notices at when the site does not set one.
GRADE = int(QualityRuleConfig.model_fields["grade"].default)
MIN_BEHIND_S = 60.0


def clock_channel(device: str) -> str:
    return f"{device}.{QUANTITY}"


@dataclass(slots=True)
class _Clock:
    tolerance_s: float
    off: bool = False
    behind_since: float | None = None  # arrival time a steady behind offset was first seen
    behind_offset: float = 0.0


class ClockNotices:
    """One notice per MQTT device whose stamps may be judged (``time_source`` other than gateway)."""

    def __init__(
        self,
        site: str,
        devices: Sequence[MqttDeviceConfig],
        grade: int = GRADE,
        reopening: Reopening = NEVER_REOPEN,
    ) -> None:
        watched = [d for d in devices if d.time_source != "gateway"]
        self._row = {d.id: row for row, d in enumerate(watched)}
        self._clocks = [_Clock(d.clock_tolerance_s) for d in watched]
        self.grade = grade
        self.book = AlarmBook(
            site=site,
            binding_channel=[clock_channel(d.id) for d in watched],
            binding_rule=[RULE] * len(watched),
            binding_unit=["s"] * len(watched),
            reopening=reopening,
        )

    def off(self) -> list[str]:
        """Devices whose clock notice is raised now."""
        return [device for device, row in self._row.items() if self._clocks[row].off]

    def observe(self, device: str, arrival: float, offset: float) -> list[AlarmEvent]:
        """One message's offset (newest device stamp minus arrival); the notice's events, if any."""
        row = self._row.get(device)
        if row is None:
            return []
        clock = self._clocks[row]
        tol = clock.tolerance_s
        if abs(offset) <= tol:
            clock.behind_since = None
            if clock.off:
                clock.off = False
                return self._event(row, device, arrival, offset, 0)
            return []
        if offset > tol:
            clock.behind_since = None
            if not clock.off:
                clock.off = True
                return self._event(row, device, arrival, offset, self.grade)
            return []
        # Behind: a steady offset, not a backlog catching up.
        if clock.behind_since is None or abs(offset - clock.behind_offset) > tol:
            clock.behind_since, clock.behind_offset = arrival, offset
            return []
        if not clock.off and arrival - clock.behind_since >= max(tol, MIN_BEHIND_S):
            clock.off = True
            return self._event(row, device, arrival, offset, self.grade)
        return []

    def _event(self, row: int, device: str, arrival: float, offset: float, grade: int) -> list[AlarmEvent]:
        tol = self._clocks[row].tolerance_s
        old = 0 if grade else self.grade
        transitions = Transitions(
            ts=np.array([arrival]),
            binding=np.array([row], dtype=np.intp),
            old_grade=np.array([old], dtype=np.int8),
            new_grade=np.array([grade], dtype=np.int8),
            value=np.array([round(offset, 1)]),
            limit=np.array([tol if offset >= 0 else -tol]),
            upward=np.array([offset >= 0]),
            time_to_limit_s=np.array([np.nan]),
            failure_time=np.array([np.nan]),
        )
        events = self.book.apply(transitions)
        return [dataclasses.replace(e, message=_message(device, e.state, offset, tol)) for e in events]


def _message(device: str, state: str, offset: float, tolerance_s: float) -> str:
    if state == AlarmState.CLEARED:
        return f"device {device}: clock back in step with the gateway (off by {offset:+.0f} s)"
    side = "ahead of" if offset > 0 else "behind"
    return (
        f"device {device}: clock {_span(abs(offset))} {side} the gateway "
        f"(tolerance {tolerance_s:g} s); its readings' times cannot be trusted"
    )


def _span(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds > 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds:.0f} s"
