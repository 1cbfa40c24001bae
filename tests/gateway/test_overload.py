"""Overload as a state: a lagging intake raises one gateway alarm, a caught-up one clears it, a
quiet site is never behind; health and /metrics carry the lag."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.overload import BEHIND_FOR_S, CAUGHT_UP_FOR_S, CHANNEL, GRADE, QUIET_AFTER_S, OverloadWatch
from gateway.vocab import AlarmEvent, AlarmState


@dataclass
class Figures:
    pass_lag_s: float | None = None
    last_pass_monotonic: float | None = None


def _watch(waiting: int = 7) -> tuple[OverloadWatch, Figures, list[AlarmEvent]]:
    figures, events = Figures(), []
    watch = OverloadWatch("s1", figures, lambda: waiting, events.extend, clock=lambda: 1_800_000_000.0)
    return watch, figures, events


def _run(watch: OverloadWatch, figures: Figures, lag: float, start: float, seconds: float) -> float:
    """Passes every 0.5 s with this lag, checked every second; returns the time reached."""
    t = start
    while t < start + seconds:
        figures.pass_lag_s, figures.last_pass_monotonic = lag, t
        watch.check(t)
        t += 1.0
    return t


def test_a_lagging_intake_raises_once_and_clears_once_caught_up() -> None:
    watch, figures, events = _watch()
    t = _run(watch, figures, 30.0, 0.0, BEHIND_FOR_S - 1)
    assert events == [] and not watch.behind  # not yet: a short burst is not overload
    t = _run(watch, figures, 30.0, t, 5)
    (raised,) = events
    assert raised.channel == CHANNEL and raised.state == AlarmState.RAISED and raised.grade == GRADE
    assert "30 s late" in raised.message and watch.behind and watch.health(t).lag_s == 30.0
    assert watch.health(t).waiting_batches == 7
    t = _run(watch, figures, 5.0, t, 60)  # better, but not caught up: stays raised
    assert len(events) == 1 and watch.behind
    t = _run(watch, figures, 0.05, t, CAUGHT_UP_FOR_S + 2)
    assert [e.state for e in events] == [AlarmState.RAISED, AlarmState.CLEARED] and not watch.behind
    assert watch.health(t).episodes == 1


def test_a_quiet_site_is_not_behind_whatever_its_last_lag() -> None:
    watch, figures, events = _watch(waiting=0)
    figures.pass_lag_s, figures.last_pass_monotonic = 3600.0, 0.0  # a DTU's old backlog, then silence
    for t in range(int(QUIET_AFTER_S) + 1, 120):
        watch.check(float(t))
    assert events == [] and watch.health(120.0).lag_s is None


def test_a_held_pipeline_with_batches_waiting_is_behind() -> None:
    watch, figures, events = _watch(waiting=7)
    figures.pass_lag_s, figures.last_pass_monotonic = 1.0, 0.0  # the last pass, then none: held back
    for t in range(1, 40):
        watch.check(float(t))
    assert watch.behind and [e.state for e in events] == [AlarmState.RAISED]
    assert watch.health(39.0).lag_s == 40.0  # its lag, plus the 39 s without a pass


def test_no_pass_yet_is_no_lag() -> None:
    watch, _, events = _watch()
    watch.check(100.0)
    assert events == [] and watch.health(100.0).lag_s is None and watch.health(100.0).behind is False
