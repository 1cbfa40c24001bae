"""Alarm events: grades, states and the event document the contract names."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any


class Grade(IntEnum):
    NORMAL = 0
    YELLOW = 1
    ORANGE = 2
    RED = 3


class AlarmState:
    RAISED = "raised"
    ESCALATED = "escalated"
    DEESCALATED = "deescalated"
    CLEARED = "cleared"

    @staticmethod
    def of_transition(old_grade: int, new_grade: int) -> str:
        if old_grade == 0:
            return AlarmState.RAISED
        if new_grade == 0:
            return AlarmState.CLEARED
        return AlarmState.ESCALATED if new_grade > old_grade else AlarmState.DEESCALATED


def iso_utc(epoch_s: float) -> str:
    """ISO 8601 in UTC with millisecond precision and a ``Z``."""
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_event_id() -> str:
    return uuid.uuid4().hex


# json.dumps(obj, ensure_ascii=False, separators=(",", ":")), without building an encoder per event.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """One change of an alarm, as the contract names it (replay output, MQTT and API alike).

    ``id`` identifies this event (consumers drop duplicates by it); ``alarm_id`` is the alarm the
    event belongs to, shared by its raised ... cleared events.
    """

    site: str
    ts: float
    channel: str
    rule: str
    grade: int
    state: str
    value: float | None
    limit: float | None
    unit: str
    message: str
    alarm_id: str
    id: str = field(default_factory=new_event_id)
    forecast: dict[str, Any] | None = None
    # What the rule judged, for messages (``gateway.alarms.wording``): ``kind`` and its numbers.
    detail: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        event: dict[str, Any] = {
            "id": self.id,
            "alarm_id": self.alarm_id,
            "site": self.site,
            "ts": iso_utc(self.ts),
            "channel": self.channel,
            "rule": self.rule,
            "grade": self.grade,
            "state": self.state,
            "value": self.value,
            "limit": self.limit,
            "unit": self.unit,
            "message": self.message,
        }
        if self.forecast is not None:
            event["forecast"] = self.forecast
        if self.detail is not None:
            event["detail"] = self.detail
        return event

    def to_json(self) -> str:
        return _JSON.encode(self.to_dict())
