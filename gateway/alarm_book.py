"""Turns the core's grade transitions into the contract's alarm events and keeps current alarms.

An alarm is one episode of a (channel, rule): opened by ``raised``, followed through
``escalated``/``deescalated``, ended by ``cleared``. Its events share the alarm's id.
The people's side of the lifecycle (acknowledge, close) builds on these records.
"""

from __future__ import annotations

import math
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from analytics import Transitions
from gateway.models import AlarmEvent, AlarmState, iso_utc

GRADE_NAMES = {0: "normal", 1: "yellow", 2: "orange", 3: "red"}


@dataclass(slots=True)
class AlarmRecord:
    id: str
    channel: str
    rule: str
    unit: str
    grade: int
    max_grade: int
    state: str
    raised_ts: float
    updated_ts: float
    value: float | None
    limit: float | None
    message: str
    cleared_ts: float | None = None
    forecast: dict[str, Any] | None = None

    @property
    def active(self) -> bool:
        return self.cleared_ts is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "rule": self.rule,
            "grade": self.grade,
            "max_grade": self.max_grade,
            "state": self.state,
            "active": self.active,
            "raised_at": iso_utc(self.raised_ts),
            "updated_at": iso_utc(self.updated_ts),
            "cleared_at": None if self.cleared_ts is None else iso_utc(self.cleared_ts),
            "value": self.value,
            "limit": self.limit,
            "unit": self.unit,
            "message": self.message,
            "forecast": self.forecast,
        }


class AlarmBook:
    def __init__(
        self,
        site: str,
        binding_channel: list[str],
        binding_rule: list[str],
        binding_unit: list[str],
        keep_cleared: int = 1000,
        reopen: Callable[[str, str, float], str | None] | None = None,
    ) -> None:
        self.site = site
        self._channel = binding_channel
        self._rule = binding_rule
        self._unit = binding_unit
        self._open: dict[int, AlarmRecord] = {}
        self._cleared: deque[AlarmRecord] = deque(maxlen=keep_cleared)
        # A raise within ``reopen_window_s`` of the same binding's clear reopens that alarm, unless
        # people closed it meanwhile (``is_closed``). ``reopen`` is asked when this book does not
        # remember the clear itself (after a restart): it returns the id to reopen, if any.
        self.reopen = reopen
        self.reopen_window_s = 0.0
        self.is_closed: Callable[[str], bool] = lambda _alarm_id: False
        self._last_cleared: dict[int, tuple[str, float]] = {}

    def apply(self, t: Transitions) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        for ts, binding, old, new, value, limit, upward, ttl, failure in zip(
            t.ts.tolist(),
            t.binding.tolist(),
            t.old_grade.tolist(),
            t.new_grade.tolist(),
            t.value.tolist(),
            t.limit.tolist(),
            t.upward.tolist(),
            t.time_to_limit_s.tolist(),
            t.failure_time.tolist(),
            strict=True,
        ):
            event = self._event(ts, binding, old, new, value, limit, upward, _forecast(ttl, failure))
            events.append(event)
        return events

    def _event(
        self,
        ts: float,
        binding: int,
        old: int,
        new: int,
        value: float,
        limit: float,
        upward: bool,
        forecast: dict[str, Any] | None = None,
    ) -> AlarmEvent:
        state = AlarmState.of_transition(old, new)
        channel, rule, unit = self._channel[binding], self._rule[binding], self._unit[binding]
        message = _message(channel, state, new, value, limit, unit, upward)
        clean_value = value if math.isfinite(value) else None
        clean_limit = limit if math.isfinite(limit) else None
        record = self._open.get(binding)
        if record is None:
            reopened = self._reopens(binding, channel, rule, ts)
            record = AlarmRecord(
                id=reopened or uuid.uuid4().hex,
                channel=channel,
                rule=rule,
                unit=unit,
                grade=new,
                max_grade=new,
                state=state,
                raised_ts=ts,
                updated_ts=ts,
                value=clean_value,
                limit=clean_limit,
                message=message,
            )
            self._open[binding] = record
        record.grade = new
        record.max_grade = max(record.max_grade, new)
        record.state = state
        record.updated_ts = ts
        record.value = clean_value
        record.limit = clean_limit
        record.message = message
        record.forecast = forecast
        if new == 0:
            self._last_cleared[binding] = (record.id, ts)
            record.cleared_ts = ts
            self._cleared.append(self._open.pop(binding))
        return AlarmEvent(
            site=self.site,
            ts=ts,
            channel=channel,
            rule=rule,
            grade=new,
            state=state,
            value=clean_value,
            limit=clean_limit,
            unit=unit,
            message=message,
            alarm_id=record.id,
            forecast=forecast,
        )

    def _reopens(self, binding: int, channel: str, rule: str, ts: float) -> str | None:
        last = self._last_cleared.get(binding)
        if last is not None:
            alarm_id, cleared_ts = last
            if 0 <= ts - cleared_ts <= self.reopen_window_s and not self.is_closed(alarm_id):
                return alarm_id
            return None
        return self.reopen(channel, rule, ts) if self.reopen is not None else None

    def active(self) -> list[AlarmRecord]:
        return sorted(self._open.values(), key=lambda r: r.updated_ts, reverse=True)

    def recent_cleared(self) -> list[AlarmRecord]:
        return list(reversed(self._cleared))


def _forecast(time_to_limit_s: float, failure_time: float) -> dict[str, Any] | None:
    forecast: dict[str, Any] = {}
    if math.isfinite(time_to_limit_s):
        forecast["time_to_limit_s"] = round(time_to_limit_s, 1)
    if math.isfinite(failure_time):
        forecast["failure_time"] = iso_utc(failure_time)
    return forecast or None


def _message(
    channel: str, state: str, grade: int, value: float, limit: float, unit: str, upward: bool
) -> str:
    unit_text = f" {unit}" if unit else ""
    if not math.isfinite(limit):
        return f"{channel} {GRADE_NAMES[grade]} ({state}): {value:g}{unit_text}"
    if state == AlarmState.CLEARED:
        return f"{channel} back to normal: {value:g}{unit_text} (limit {limit:g}{unit_text})"
    side = "at or above" if upward else "at or below"
    return (
        f"{channel} {GRADE_NAMES[grade]} ({state}): {value:g}{unit_text} {side} "
        f"the {GRADE_NAMES[grade]} limit {limit:g}{unit_text}"
    )
