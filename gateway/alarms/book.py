"""Turns the core's grade transitions into the contract's alarm events.

An alarm is one episode of a (channel, rule): opened by ``raised``, followed through
``escalated``/``deescalated``, ended by ``cleared``. Its events share the alarm's id; the alarm's
record, and the people's side of its lifecycle, live on the alarm desk (gateway.alarms.desk).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from analytics import Transitions
from gateway.alarms.wording import Facts, event_detail, event_message
from gateway.vocab import AlarmEvent, AlarmState, iso_utc

GRADE_NAMES = {0: "normal", 1: "yellow", 2: "orange", 3: "red"}


def _never_closed(_alarm_id: str) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Reopening:
    """How a raise finds the alarm it reopens: within ``window_s`` of the same binding's clear,
    unless people closed it meanwhile (``is_closed``); ``reopen_id`` is asked when the book does not
    remember the clear itself (after a restart). The desk provides both; the default never reopens."""

    window_s: float = 0.0
    reopen_id: Callable[[str, str, float], str | None] | None = None
    is_closed: Callable[[str], bool] = _never_closed


NEVER_REOPEN = Reopening()


class AlarmBook:
    def __init__(
        self,
        site: str,
        binding_channel: list[str],
        binding_rule: list[str],
        binding_unit: list[str],
        binding_facts: list[Facts] | None = None,
        reopening: Reopening = NEVER_REOPEN,
    ) -> None:
        self.site = site
        self._channel = binding_channel
        self._rule = binding_rule
        self._unit = binding_unit
        self._facts = binding_facts or [Facts() for _ in binding_channel]
        # The alarm each binding has open (the records themselves live on the alarm desk).
        self._open: dict[int, str] = {}
        # A raise within ``reopen_window_s`` of the same binding's clear reopens that alarm, unless
        # people closed it meanwhile (``is_closed``). ``reopen`` is asked when this book does not
        # remember the clear itself (after a restart): it returns the id to reopen, if any.
        self.reopen = reopening.reopen_id
        self.reopen_window_s = reopening.window_s
        self.is_closed = reopening.is_closed
        self._last_cleared: dict[int, tuple[str, float]] = {}

    def binding_names(self) -> list[tuple[str, str, str]]:
        """(channel, rule, unit) of each binding, in the engine's numbering."""
        return list(zip(self._channel, self._rule, self._unit, strict=True))

    def resume(self, binding: int, alarm_id: str) -> None:
        """After a restart: the alarm this binding still has open (an active record on the desk)."""
        self._open[binding] = alarm_id

    def apply(self, t: Transitions) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        numbers = t.detail.tolist() if len(t.detail) == len(t) else [[] for _ in range(len(t))]
        for ts, binding, old, new, value, limit, upward, ttl, failure, detail in zip(
            t.ts.tolist(),
            t.binding.tolist(),
            t.old_grade.tolist(),
            t.new_grade.tolist(),
            t.value.tolist(),
            t.limit.tolist(),
            t.upward.tolist(),
            t.time_to_limit_s.tolist(),
            t.failure_time.tolist(),
            numbers,
            strict=True,
        ):
            about = event_detail(self._facts[binding], old, new, value, limit, upward, ttl, failure, detail)
            event = self._event(ts, binding, old, new, value, limit, upward, _forecast(ttl, failure), about)
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
        detail: dict[str, Any] | None = None,
    ) -> AlarmEvent:
        state = AlarmState.of_transition(old, new)
        channel, rule, unit = self._channel[binding], self._rule[binding], self._unit[binding]
        clean_value = value if math.isfinite(value) else None
        clean_limit = limit if math.isfinite(limit) else None
        judged = {"grade": new, "state": state, "value": clean_value, "limit": clean_limit, "unit": unit}
        message = event_message(channel, state, new, judged | {"detail": detail or {"upward": upward}})
        alarm_id = self._open.get(binding)
        if alarm_id is None:
            alarm_id = self._reopens(binding, channel, rule, ts) or uuid.uuid4().hex
            self._open[binding] = alarm_id
        if new == 0:
            self._last_cleared[binding] = (alarm_id, ts)
            del self._open[binding]
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
            alarm_id=alarm_id,
            forecast=forecast,
            detail=detail,
        )

    def _reopens(self, binding: int, channel: str, rule: str, ts: float) -> str | None:
        last = self._last_cleared.get(binding)
        if last is not None:
            alarm_id, cleared_ts = last
            if 0 <= ts - cleared_ts <= self.reopen_window_s and not self.is_closed(alarm_id):
                return alarm_id
            return None
        return self.reopen(channel, rule, ts) if self.reopen is not None else None


def _forecast(time_to_limit_s: float, failure_time: float) -> dict[str, Any] | None:
    forecast: dict[str, Any] = {}
    if math.isfinite(time_to_limit_s):
        forecast["time_to_limit_s"] = round(time_to_limit_s, 1)
    if math.isfinite(failure_time):
        forecast["failure_time"] = iso_utc(failure_time)
    return forecast or None
