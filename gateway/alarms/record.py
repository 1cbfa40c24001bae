"""An alarm as people handle it: the data's side (grade, active) and the people's (status, who, when).

Status: ``open`` → ``acknowledged`` → ``rectifying`` → ``closed`` (销号). The data may raise, escalate,
de-escalate and clear it at any point; a raise within the reopen window reopens a cleared record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from gateway.vocab import iso_utc


class Status:
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RECTIFYING = "rectifying"
    CLOSED = "closed"


@dataclass(slots=True)
class AlarmRecord:
    id: str
    site: str
    channel: str
    rule: str
    unit: str
    device: str
    position: str
    grade: int
    max_grade: int
    state: str  # the data's last word: raised, escalated, deescalated, cleared
    active: bool
    raised_ts: float  # data time of the first raise
    updated: float  # wall time of the last change of any kind
    value: float | None = None
    limit: float | None = None
    message: str = ""
    forecast: dict[str, Any] | None = None
    detail: dict[str, Any] | None = None  # what the rule judged (gateway.alarms.wording)
    cleared_ts: float | None = None
    status: str = Status.OPEN
    acked_by: str | None = None
    acked_at: float | None = None
    assignee: str | None = None
    rectify_deadline: float | None = None
    closed_by: str | None = None
    closed_at: float | None = None
    close_note: str | None = None
    override_reason: str | None = None
    reopened: int = 0
    # Escalation (督办): highest tier told so far, when the next tier is due, last push.
    tier: int = -1
    escalate_at: float | None = None
    notified_at: float | None = None
    events: list[str] = field(default_factory=list)  # ids of the alarm events applied
    # While shelved: {"until", "by", "reason", "since"} (gateway.alarms.shelving), else None.
    shelf: dict[str, Any] | None = None

    def to_store(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_store(cls, data: dict[str, Any]) -> AlarmRecord:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def view(self) -> dict[str, Any]:
        """As the API and pushes show it."""

        def when(ts: float | None) -> str | None:
            # A time no ISO 8601 can show (stored before the API refused it) reads as unknown
            # rather than breaking the listing for everyone.
            try:
                return None if ts is None else iso_utc(ts)
            except (OverflowError, ValueError, OSError):
                return None

        return {
            "id": self.id,
            "site": self.site,
            "channel": self.channel,
            "device": self.device,
            "position": self.position,
            "rule": self.rule,
            "grade": self.grade,
            "max_grade": self.max_grade,
            "state": self.state,
            "active": self.active,
            "status": self.status,
            "value": self.value,
            "limit": self.limit,
            "unit": self.unit,
            "message": self.message,
            "forecast": self.forecast,
            "detail": self.detail,
            "raised_at": iso_utc(self.raised_ts),
            "updated_at": iso_utc(self.updated),
            "cleared_at": when(self.cleared_ts),
            "acknowledged_by": self.acked_by,
            "acknowledged_at": when(self.acked_at),
            "assignee": self.assignee,
            "rectify_deadline": when(self.rectify_deadline),
            "closed_by": self.closed_by,
            "closed_at": when(self.closed_at),
            "close_note": self.close_note,
            "override_reason": self.override_reason,
            "reopened": self.reopened,
            "tier": self.tier,
            "shelved": self.shelf is not None,
            "shelved_until": None if self.shelf is None else iso_utc(float(self.shelf["until"])),
            "shelved_by": None if self.shelf is None else self.shelf["by"],
            "shelve_reason": None if self.shelf is None else self.shelf["reason"],
        }
