"""Scoring a scenario's alarm events against its ground truth. Pure: no I/O, no clock.

The truth is a list of expected alarms, each a (channel, rule, grade) that must be reached inside a
window of scenario time; the ``allow`` list names (channel, rule) pairs that may fire without being
scored (a tolerated side effect, each with its reason in the scenario file).

* An expected alarm is **detected** by the first ``raised`` or ``escalated`` event of its channel
  and rule whose grade is at least the expected grade, with a data time inside the window. Its
  **delay** is that event's time minus the window's opening.
* A **false alarm** is a ``raised`` event that no expected alarm explains (same channel and rule,
  inside its window, at any grade) and no ``allow`` entry covers. Raising an expected alarm before
  its window opens is therefore a false alarm (and, unless it escalates to the grade inside the
  window, a miss): too early is as wrong as too late.
* ``escalated`` events only count for detection; ``deescalated`` and ``cleared`` never count.

Channel and rule patterns may use shell wildcards (``fw1.*.settlement``); quality rules' alarms are
named ``<rule>.<check>`` (``sensors_alive.silent``). Times in the truth are scenario seconds; events
carry epoch data times (``start_ts + t_s``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from gateway.vocab import AlarmEvent, AlarmState
from smartsite.replay.kpi import AlarmKpis

DETECTING_STATES = (AlarmState.RAISED, AlarmState.ESCALATED)


@dataclass(frozen=True, slots=True)
class Expectation:
    """One alarm of the ground truth: ``channel``/``rule`` (wildcards allowed) must reach ``grade``
    between ``start_s`` and ``end_s`` of scenario time."""

    channel: str
    rule: str
    grade: int
    start_s: float
    end_s: float

    def matches(self, event: AlarmEvent) -> bool:
        return fnmatchcase(event.channel, self.channel) and fnmatchcase(event.rule, self.rule)

    def describe(self) -> str:
        return f"{self.channel} {self.rule} >= {self.grade} in [{_num(self.start_s)}, {_num(self.end_s)}] s"


@dataclass(frozen=True, slots=True)
class Allowance:
    """An alarm that may fire without being scored (scenarios give channel and rule; ``max_grade``
    and the window may bound it further)."""

    channel: str = "*"
    rule: str = "*"
    max_grade: int = 3
    start_s: float = -math.inf
    end_s: float = math.inf

    def covers(self, event: AlarmEvent, t_s: float) -> bool:
        return (
            fnmatchcase(event.channel, self.channel)
            and fnmatchcase(event.rule, self.rule)
            and event.grade <= self.max_grade
            and self.start_s <= t_s <= self.end_s
        )


@dataclass(frozen=True, slots=True)
class ExpectedResult:
    expectation: Expectation
    detected: bool
    delay_s: float | None = None  # after the window opened
    event: AlarmEvent | None = None

    def to_dict(self) -> dict[str, Any]:
        e = self.expectation
        return {
            "channel": e.channel,
            "rule": e.rule,
            "grade": e.grade,
            "window_s": [e.start_s, e.end_s],
            "detected": self.detected,
            "delay_s": None if self.delay_s is None else round(self.delay_s, 3),
            "event_channel": None if self.event is None else self.event.channel,
        }


@dataclass(frozen=True, slots=True)
class FalseAlarm:
    event: AlarmEvent
    t_s: float  # scenario time of the event

    def describe(self) -> str:
        e = self.event
        return f"{e.channel} {e.rule} {e.state} grade {e.grade} at {_num(self.t_s)} s"

    def to_dict(self) -> dict[str, Any]:
        e = self.event
        return {
            "channel": e.channel,
            "rule": e.rule,
            "state": e.state,
            "grade": e.grade,
            "t_s": round(self.t_s, 3),
            "value": e.value,
            "message": e.message,
        }


@dataclass(slots=True)
class ScenarioScore:
    """How a scenario went through the gateway (see the module docstring for the rules)."""

    name: str
    results: list[ExpectedResult]
    false_alarms: list[FalseAlarm]
    events: list[AlarmEvent] = field(default_factory=list)
    frames: int = 0
    readings: int = 0
    wall_s: float = 0.0
    error: str | None = None  # the run itself failed (the gateway never caught up, ...)
    kpis: AlarmKpis | None = None  # alarm KPIs of every event of the run (smartsite.replay.kpi)

    @property
    def expected(self) -> int:
        return len(self.results)

    @property
    def detected(self) -> int:
        return sum(r.detected for r in self.results)

    @property
    def missed(self) -> list[ExpectedResult]:
        return [r for r in self.results if not r.detected]

    @property
    def delays_s(self) -> list[float | None]:
        return [None if r.delay_s is None else round(r.delay_s, 3) for r in self.results]

    @property
    def ok(self) -> bool:
        return self.error is None and not self.missed and not self.false_alarms

    def to_dict(self) -> dict[str, Any]:
        """The report's entry: ``name``, ``expected``, ``detected``, ``false_alarms`` (counts),
        ``delays_s`` (one per expected alarm, null when missed), and details."""
        return {
            "name": self.name,
            "expected": self.expected,
            "detected": self.detected,
            "false_alarms": len(self.false_alarms),
            "delays_s": self.delays_s,
            "ok": self.ok,
            "error": self.error,
            "frames": self.frames,
            "readings": self.readings,
            "wall_s": round(self.wall_s, 3),
            "alarms": [r.to_dict() for r in self.results],
            "false_alarm_events": [f.to_dict() for f in self.false_alarms],
            "kpis": None if self.kpis is None else self.kpis.to_dict(),
        }


def score(
    name: str,
    events: Iterable[AlarmEvent],
    expectations: Sequence[Expectation],
    allowances: Sequence[Allowance],
    start_ts: float,
) -> ScenarioScore:
    """Score the events of one run (data times from ``start_ts``) against the truth."""
    counted = sorted((e for e in events if e.state in DETECTING_STATES), key=lambda e: e.ts)
    results: list[ExpectedResult] = []
    for want in expectations:
        hit = next(
            (
                e
                for e in counted
                if want.matches(e) and e.grade >= want.grade and want.start_s <= e.ts - start_ts <= want.end_s
            ),
            None,
        )
        if hit is None:
            results.append(ExpectedResult(want, detected=False))
        else:
            results.append(ExpectedResult(want, True, hit.ts - start_ts - want.start_s, hit))
    false_alarms = [
        FalseAlarm(e, e.ts - start_ts)
        for e in counted
        if e.state == AlarmState.RAISED and not _explained(e, e.ts - start_ts, expectations, allowances)
    ]
    return ScenarioScore(name, results, false_alarms, events=counted)


def _explained(
    event: AlarmEvent, t_s: float, expectations: Sequence[Expectation], allowances: Sequence[Allowance]
) -> bool:
    if any(want.matches(event) and want.start_s <= t_s <= want.end_s for want in expectations):
        return True
    return any(a.covers(event, t_s) for a in allowances)


def _num(x: float) -> str:
    return f"{x:g}"


__all__ = [
    "Allowance",
    "Expectation",
    "ExpectedResult",
    "FalseAlarm",
    "ScenarioScore",
    "score",
]
