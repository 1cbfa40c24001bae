"""Grades carried over a restart (analytics.carry) on a bare engine: threshold rows and a windowed rate."""

from __future__ import annotations

import numpy as np

from analytics import Engine, ThresholdSpec
from analytics.trend import RateSpec, RateTable

T0 = 1_000_000.0


def _threshold_engine() -> Engine:
    spec = ThresholdSpec(rule=0, channels=np.array([0], np.int32), upper=(10.0, 15.0, 20.0), hysteresis=1.0)
    return Engine(np.array([-1e3]), np.array([1e3]), [spec])


def _rate_engine(window_s: float) -> Engine:
    channels = np.array([0], np.int32)
    spec = RateSpec(rule=0, channels=channels, window_s=window_s, per_s=60.0, upper=(1.0, 2.0, 3.0))
    return Engine(np.array([-1e3]), np.array([1e3]), judges=[RateTable([spec])])


def _feed(engine: Engine, ts: list[float], value: list[float]) -> list[tuple[int, int]]:
    n = len(ts)
    found = engine.process(np.array(ts), np.zeros(n, np.int32), np.array(value), np.zeros(n, np.uint8))
    return list(zip(found.transitions.old_grade.tolist(), found.transitions.new_grade.tolist(), strict=True))


def _carry(engine: Engine, grade: int, settle_from: float = -np.inf, window_s: float = 0.0) -> None:
    engine.carried.carry(
        np.array([0]), np.array([grade], np.int8), np.array([settle_from]), np.array([window_s]), engine.state
    )


def test_threshold_row_steps_from_the_carried_grade_with_its_hysteresis() -> None:
    engine = _threshold_engine()
    _carry(engine, 3)
    assert engine.binding_grade.tolist() == [3]
    assert _feed(engine, [T0], [19.2]) == []  # inside the red's band: held, as without a restart
    assert _feed(engine, [T0 + 1], [21.0]) == []  # reached again: the same alarm, no raise
    assert not engine.carried.any  # the judge's own latch agrees now
    assert _feed(engine, [T0 + 2], [9.5]) == [(3, 1)]  # in yellow's band: down to yellow only


def test_threshold_row_carried_at_yellow_clears_when_the_data_is_normal() -> None:
    engine = _threshold_engine()
    _carry(engine, 1)
    found = engine.process(np.array([T0]), np.zeros(1, np.int32), np.array([2.0]), np.zeros(1, np.uint8))
    t = found.transitions
    assert (t.old_grade.tolist(), t.new_grade.tolist(), t.value.tolist(), t.limit.tolist()) == (
        [1],
        [0],
        [2.0],
        [10.0],
    )
    assert engine.binding_grade.tolist() == [0] and not engine.carried.any


def test_windowed_rule_waits_for_a_window_of_data_before_it_clears() -> None:
    spec = RateSpec(
        rule=0, channels=np.array([0], np.int32), window_s=600.0, per_s=60.0, upper=(1.0, 2.0, 3.0)
    )
    engine = Engine(np.array([-1e3]), np.array([1e3]), judges=[RateTable([spec])])
    _carry(engine, 2, settle_from=np.nan, window_s=600.0)  # no warm start: a window of live data first
    ts = [T0 + 60.0 * i for i in range(15)]
    flat = [5.0] * 15  # the rate is 0: the alarm of before the restart is over, once judged
    changes = [(ts[i], _feed(engine, [ts[i]], [flat[i]])) for i in range(15)]
    cleared = [t for t, c in changes if c]
    assert cleared == [T0 + 600.0]  # not before the window is full
    assert [c for _, c in changes if c] == [[(2, 0)]]


def test_windowed_rule_continues_the_carried_alarm_without_a_second_raise() -> None:
    spec = RateSpec(
        rule=0, channels=np.array([0], np.int32), window_s=600.0, per_s=60.0, upper=(1.0, 2.0, 3.0)
    )
    engine = Engine(np.array([-1e3]), np.array([1e3]), judges=[RateTable([spec])])
    _carry(engine, 2, settle_from=np.nan, window_s=600.0)
    rising = [2.5 * i for i in range(15)]  # 2.5 per minute: orange, as before the restart
    changes = [c for i in range(15) if (c := _feed(engine, [T0 + 60.0 * i], [rising[i]]))]
    assert changes == []  # the judge reaches orange itself: that is the carried alarm going on
    assert engine.binding_grade.tolist() == [2] and not engine.carried.any


def test_a_settled_windowed_alarm_has_no_value_of_its_own() -> None:
    engine = _rate_engine(60.0)
    _carry(engine, 1)  # a warm start filled the window: the next reading settles it
    found = engine.process(np.array([T0]), np.zeros(1, np.int32), np.array([5.0]), np.zeros(1, np.uint8))
    t = found.transitions
    assert (t.old_grade.tolist(), t.new_grade.tolist()) == ([1], [0])
    assert np.isnan(t.value).all() and np.isnan(t.limit).all()  # the reading is not the judged rate
