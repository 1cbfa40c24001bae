"""A weather warning as the gateway keeps it (official, or the site's own signal): one record per
warning, through its lifecycle.

A warning is opened by an Alert (or by the site's own signal) and followed by the Updates and
Cancels that reference it; every message applied is listed, so a later message may reference any of
them. States: ``received`` and ``updated`` (in force while real and covering the site),
``cancelled``, ``expired`` and ``ended`` (a local signal no longer met). A warning that is not
acted on (a Test, Exercise or Draft, an area that misses the site, an Ack or Error message) is
recorded all the same, with the reason in ``not_acted``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from gateway.vocab import iso_utc


class WarningState:
    RECEIVED = "received"
    UPDATED = "updated"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    ENDED = "ended"
    LIVE = frozenset({"received", "updated"})


class Change:
    """What one message (or the clock, or a local signal) did to a warning, as published."""

    ISSUED = "issued"  # now in force
    UPDATED = "updated"  # in force before and after, with new content
    ENDED = "ended"  # in force before, not after (cancelled, expired, out of the area, superseded)
    RECORDED = "recorded"  # in force neither before nor after (Test, Exercise, outside, ...)
    ACKNOWLEDGED = "acknowledged"  # by a supervisor, with the actions done


@dataclass(slots=True)
class WarningRecord:
    id: str
    sender: str
    identifier: str  # of the opening message
    local: bool
    status: str  # CAP status of the last message applied (Actual, Exercise, System, Test, Draft)
    msg_type: str  # of the last message applied
    event: str | None  # gale, rainstorm, ... (drivers.cap.codes.EVENTS); None: not in the table
    colour: str | None  # blue, yellow, orange, red
    state: str
    received_at: float
    updated_at: float
    event_name: str = ""  # the event as the sender wrote it
    headline: str = ""
    description: str = ""
    instruction: str = ""
    language: str = ""
    severity: str = ""
    urgency: str = ""
    certainty: str = ""
    onset: float | None = None
    expires: float | None = None
    area: dict[str, Any] = field(default_factory=dict)  # drivers.cap.area.AreaMatch.as_dict
    not_acted: str = ""  # why the warning is not acted on: test, exercise, draft, outside, ...
    messages: list[str] = field(default_factory=list)  # "sender,identifier,sent" of each message
    ended_at: float | None = None
    end_reason: str = ""
    actions: list[dict[str, Any]] = field(default_factory=list)  # gateway.weather.actions
    alarm_id: str | None = None  # the site alarm it raised, if any
    alarm_grade: int = 0  # that alarm's grade now (0: none active)
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    ack_note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)  # a local signal's numbers

    @property
    def in_force(self) -> bool:
        return not self.not_acted and self.state in WarningState.LIVE

    def to_store(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_store(cls, data: dict[str, Any]) -> WarningRecord:
        return cls(**data)

    def view(self) -> dict[str, Any]:
        """The record as the API and the ``…/warnings`` topic show it: times in ISO 8601 UTC."""
        out = asdict(self)
        for key in ("received_at", "updated_at", "onset", "expires", "ended_at", "acknowledged_at"):
            value = out[key]
            out[key] = iso_utc(value) if value is not None else None
        out["in_force"] = self.in_force
        for action in out["actions"]:
            if action.get("done_at") is not None:
                action["done_at"] = iso_utc(action["done_at"])
        return out
