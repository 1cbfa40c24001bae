"""What the alarm desk hands to the pushes: one notice per (receiver, alarm change).

A notice is plain data that survives a restart (it is stored in the outbox as JSON), so a push that
was due before a crash is still sent after it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


class NoticeKind:
    RAISED = "raised"  # the data raised an alarm
    ESCALATED = "escalated"  # the data raised its grade
    DEESCALATED = "deescalated"
    CLEARED = "cleared"  # the data returned to normal
    OVERDUE = "overdue"  # not acknowledged in time: sent to the next tier (督办)
    REMINDER = "reminder"  # unchanged and still unacknowledged after the re-notify interval
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"  # closed by a supervisor (销号)


@dataclass(frozen=True, slots=True)
class Notice:
    """One alarm change for one receiver. ``alarm`` is the alarm record as the API shows it."""

    id: str  # unique; receivers and the outbox drop duplicates by it
    receiver: str  # receiver id from the config
    kind: str  # NoticeKind
    ts: float  # epoch seconds when the desk made it
    alarm: dict[str, Any]  # id, site, channel, rule, grade, max_grade, state, status, value, limit,
    # unit, message, device, position, rate, forecast, raised_at, tier, link ...
    group: str = ""  # notices with the same group for the same receiver may go out as one message
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Notice:
        data = json.loads(text)
        return cls(**data)
