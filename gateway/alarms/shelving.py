"""Shelving (ISA-18.2): a supervisor silences one alarm's pushes for a bounded time, with a reason.

While shelved, the alarm is still recorded and follows the data (its record changes, it shows in
the API with ``shelved_until``, ``shelved_by`` and ``shelve_reason``), but nothing is pushed about it
and it does not escalate (督办). The shelf ends by itself at ``shelved_until``, when a supervisor
unshelves it, when it is closed, or when the data raises it to red: a rise to red is pushed as
usual, because a red alarm means stop work now and no reason given for a lesser grade covers it.
Every start and end is an audit entry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gateway.alarms.record import AlarmRecord

RED = 3


class DurationError(ValueError):
    """A shelving or maintenance time that is not positive or longer than the site allows."""


def check_duration(duration_s: float, max_s: float, what: str) -> None:
    if not math.isfinite(duration_s) or duration_s <= 0:
        raise DurationError(f"{what}: the duration must be a positive number of seconds")
    if duration_s > max_s:
        raise DurationError(
            f"{what}: {duration_s:g} s is longer than the {max_s:g} s the site allows "
            "(alarms.max_shelve_s / alarms.max_maintenance_s)"
        )


def check_reason(reason: str, what: str) -> str:
    reason = reason.strip()
    if not reason:
        raise DurationError(f"{what}: a reason is required")
    return reason


@dataclass(frozen=True, slots=True)
class Shelf:
    """What a record carries while shelved (stored inside the record)."""

    until: float
    by: str
    reason: str
    since: float

    def to_store(self) -> dict[str, Any]:
        return {"until": self.until, "by": self.by, "reason": self.reason, "since": self.since}

    @classmethod
    def from_store(cls, data: dict[str, Any] | None) -> Shelf | None:
        if not data:
            return None
        return cls(float(data["until"]), str(data["by"]), str(data["reason"]), float(data["since"]))


def shelf_of(record: AlarmRecord) -> Shelf | None:
    return Shelf.from_store(record.shelf)


def is_shelved(record: AlarmRecord) -> bool:
    return record.shelf is not None


def shelve(record: AlarmRecord, actor: str, reason: str, until: float, now: float) -> dict[str, Any]:
    """Put ``record`` on the shelf; returns the audit detail."""
    before = shelf_of(record)
    record.shelf = Shelf(until, actor, reason, now).to_store()
    detail: dict[str, Any] = {"until": until}
    if before is not None:
        detail["replaces_until"] = before.until
    return detail


def unshelve(record: AlarmRecord) -> dict[str, Any]:
    """Take ``record`` off the shelf; returns the audit detail (what the shelf was)."""
    shelf = shelf_of(record)
    record.shelf = None
    return {} if shelf is None else {"shelved_by": shelf.by, "shelved_until": shelf.until}


def expired(record: AlarmRecord, now: float) -> bool:
    shelf = shelf_of(record)
    return shelf is not None and now >= shelf.until


def rises_to_red(record: AlarmRecord, grade: int) -> bool:
    """A change of the data that breaks through the shelf: a rise to red from below red."""
    return grade >= RED and record.grade < RED
