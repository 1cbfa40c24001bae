"""An alarm about the gateway itself (its store, its intake): one binding of its own alarm book,
raised and cleared by the gateway's watchers instead of by readings, with its own words."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from analytics import Transitions
from gateway.alarms.book import NEVER_REOPEN, AlarmBook, Reopening
from gateway.vocab import AlarmEvent


class GatewayAlarm:
    def __init__(
        self,
        site: str,
        channel: str,
        rule: str,
        grade: int,
        clock: Callable[[], float],
        reopening: Reopening = NEVER_REOPEN,
    ) -> None:
        self.channel, self.rule, self.grade = channel, rule, grade
        self._clock = clock
        self.book = AlarmBook(
            site=site, binding_channel=[channel], binding_rule=[rule], binding_unit=[""], reopening=reopening
        )

    def raised(self, message: str) -> list[AlarmEvent]:
        return self._change(self.grade, message)

    def cleared(self, message: str) -> list[AlarmEvent]:
        return self._change(0, message)

    def _change(self, grade: int, message: str) -> list[AlarmEvent]:
        transitions = Transitions(
            ts=np.array([self._clock()]),
            binding=np.array([0], dtype=np.intp),
            old_grade=np.array([0 if grade else self.grade], dtype=np.int8),
            new_grade=np.array([grade], dtype=np.int8),
            value=np.array([np.nan]),
            limit=np.array([np.nan]),
            upward=np.array([True]),
            time_to_limit_s=np.array([np.nan]),
            failure_time=np.array([np.nan]),
        )
        return [dataclasses.replace(e, message=message) for e in self.book.apply(transitions)]
