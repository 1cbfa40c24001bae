"""The engine on hand-made cases: limit edges, hysteresis, reported limits, and bad input."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from analytics import Engine, EngineResult, ThresholdSpec
from tests.analytics.reference import NAN, Row, rows_of

UNSET = (NAN, NAN, NAN)


def spec(
    channels: Sequence[int],
    upper: tuple[float, float, float] = UNSET,
    lower: tuple[float, float, float] = UNSET,
    hysteresis: float = 0.0,
    rule: int = 0,
) -> ThresholdSpec:
    return ThresholdSpec(rule, np.array(channels, dtype=np.int32), upper, lower, hysteresis)


def engine(specs: list[ThresholdSpec], n: int = 1, low: float = -np.inf, high: float = np.inf) -> Engine:
    return Engine(np.full(n, low), np.full(n, high), specs)


def run(
    e: Engine,
    ts: Sequence[float],
    values: Sequence[float],
    channels: Sequence[int] | None = None,
    quality: Sequence[int] | None = None,
) -> EngineResult:
    n = len(ts)
    return e.process(
        np.array(ts, dtype=np.float64),
        np.array(channels if channels is not None else [0] * n, dtype=np.int32),
        np.array(values, dtype=np.float64),
        np.array(quality if quality is not None else [0] * n, dtype=np.uint8),
    )


def series(e: Engine, values: Sequence[float], one_at_a_time: bool = False) -> list[Row]:
    """Channel 0, times 1, 2, 3, ..."""
    ts = [float(t) for t in range(1, len(values) + 1)]
    if not one_at_a_time:
        return rows_of(run(e, ts, values).transitions)
    rows: list[Row] = []
    for t, v in zip(ts, values, strict=True):
        rows += rows_of(run(e, [t], [v]).transitions)
    return rows


def grade_steps(rows: list[Row]) -> list[tuple[float, int, int]]:
    return [(ts, old, new) for ts, _, old, new, *_ in rows]


@pytest.mark.parametrize("one_at_a_time", [False, True], ids=["batch", "stream"])
def test_red_only_rule(one_at_a_time: bool) -> None:
    e = engine([spec([0], upper=(NAN, NAN, 10.0), hysteresis=1.0)])
    rows = series(e, [0.0, 9.99, 10.0, 9.5, 9.0, 8.99, 10.0], one_at_a_time)
    assert rows == [
        (3.0, 0, 0, 3, 10.0, 10.0, True),
        (6.0, 0, 3, 0, 8.99, 10.0, True),  # 9.0 = limit - hysteresis still holds
        (7.0, 0, 0, 3, 10.0, 10.0, True),
    ]


def test_lower_only_rule() -> None:
    e = engine([spec([0], lower=(5.0, 3.0, 1.0), hysteresis=0.5)])
    rows = series(e, [6.0, 5.0, 4.0, 3.0, 3.5, 3.6, 0.9, 5.4, 5.5, 5.6])
    assert rows == [
        (2.0, 0, 0, 1, 5.0, 5.0, False),
        (4.0, 0, 1, 2, 3.0, 3.0, False),
        (6.0, 0, 2, 1, 3.6, 5.0, False),  # 3.5 held orange, 3.6 left its band
        (7.0, 0, 1, 3, 0.9, 1.0, False),
        (8.0, 0, 3, 1, 5.4, 5.0, False),
        (10.0, 0, 1, 0, 5.6, 5.0, False),
    ]


@pytest.mark.parametrize(
    ("upper", "lower", "value", "grade"),
    [
        ((10.0, 20.0, 30.0), UNSET, 10.0, 1),
        ((10.0, 20.0, 30.0), UNSET, 20.0, 2),
        ((10.0, 20.0, 30.0), UNSET, 30.0, 3),
        ((10.0, 20.0, 30.0), UNSET, np.nextafter(10.0, 0.0), 0),
        (UNSET, (-10.0, -20.0, -30.0), -10.0, 1),
        (UNSET, (-10.0, -20.0, -30.0), -30.0, 3),
        (UNSET, (-10.0, -20.0, -30.0), np.nextafter(-10.0, 0.0), 0),
    ],
)
def test_value_exactly_at_a_limit(
    upper: tuple[float, float, float], lower: tuple[float, float, float], value: float, grade: int
) -> None:
    e = engine([spec([0], upper=upper, lower=lower)])
    rows = series(e, [0.0, value])
    assert [r[3] for r in rows] == ([grade] if grade else [])
    assert e.channel_grade().tolist() == [grade]


def test_hysteresis_zero_clears_just_below_the_limit_and_does_not_repeat() -> None:
    e = engine([spec([0], upper=(10.0, 20.0, 30.0), hysteresis=0.0)])
    rows = series(e, [10.0, 10.0, 10.0, np.nextafter(10.0, 0.0), 10.0, 20.0, np.nextafter(20.0, 0.0)])
    assert grade_steps(rows) == [(1.0, 0, 1), (4.0, 1, 0), (5.0, 0, 1), (6.0, 1, 2), (7.0, 2, 1)]


def test_hysteresis_band_edges_upper_and_lower() -> None:
    up = engine([spec([0], upper=(10.0, 20.0, 30.0), hysteresis=2.0)])
    assert grade_steps(series(up, [10.0, 8.0, 9.0, 8.0, 7.75])) == [(1.0, 0, 1), (5.0, 1, 0)]
    down = engine([spec([0], lower=(-10.0, -20.0, -30.0), hysteresis=2.0)])
    assert grade_steps(series(down, [-10.0, -8.0, -9.0, -8.0, -7.75])) == [(1.0, 0, 1), (5.0, 1, 0)]


def test_band_holds_but_never_raises() -> None:
    """Inside orange's band but below orange: a yellow alarm stays yellow."""
    e = engine([spec([0], upper=(10.0, 20.0, 30.0), hysteresis=5.0)])
    assert grade_steps(series(e, [12.0, 16.0, 19.0, 15.0])) == [(1.0, 0, 1)]


def test_deescalation_red_straight_to_yellow() -> None:
    e = engine([spec([0], upper=(10.0, 20.0, 30.0), hysteresis=2.0)])
    rows = series(e, [31.0, 15.0, 5.0])
    assert rows == [
        (1.0, 0, 0, 3, 31.0, 30.0, True),
        (2.0, 0, 3, 1, 15.0, 10.0, True),  # the limit of the grade now held
        (3.0, 0, 1, 0, 5.0, 10.0, True),
    ]


@pytest.mark.parametrize(
    ("upper", "lower", "values", "clear_limit", "upward"),
    [
        ((NAN, 20.0, 30.0), UNSET, [35.0, 0.0], 20.0, True),  # lowest set upper, not the red one
        ((10.0, 20.0, 30.0), (-10.0, -20.0, -30.0), [35.0, 0.0], 10.0, True),
        ((10.0, 20.0, 30.0), (-10.0, -20.0, -30.0), [-35.0, 0.0], -10.0, False),
        ((10.0, 20.0, 30.0), (NAN, -20.0, NAN), [-25.0, 0.0], -20.0, False),
        # raised upward, dropped below the lower limits, then cleared: the lower side is named
        ((10.0, 20.0, 30.0), (-10.0, -20.0, -30.0), [15.0, -25.0, 0.0], -10.0, False),
    ],
)
def test_limit_reported_on_clear(
    upper: tuple[float, float, float],
    lower: tuple[float, float, float],
    values: list[float],
    clear_limit: float,
    upward: bool,
) -> None:
    e = engine([spec([0], upper=upper, lower=lower, hysteresis=1.0)])
    rows = series(e, values)
    last = rows[-1]
    assert last[3] == 0
    assert (last[5], last[6]) == (clear_limit, upward)


def test_direction_switch_in_one_reading() -> None:
    e = engine([spec([0], upper=(10.0, 20.0, 30.0), lower=(-10.0, -20.0, -30.0), hysteresis=1.0)])
    rows = series(e, [15.0, -25.0])
    assert rows[-1] == (2.0, 0, 1, 2, -25.0, -20.0, False)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_value_is_flagged_and_holds_the_grade(bad: float) -> None:
    e = engine([spec([0], upper=(10.0, 20.0, 30.0))])
    run(e, [1.0], [25.0])
    result = run(e, [2.0, 3.0], [bad, 25.0], quality=[0x01, 0])
    assert result.quality.tolist() == [0x21, 0]  # the caller's flags kept, BAD_VALUE added
    assert result.accepted.tolist() == [True, True]
    assert len(result.transitions) == 0  # NaN does not clear, nor inf raise
    assert result.rejected == {"non_finite": 1}
    assert e.channel_grade().tolist() == [2]
    assert e.state.last_ts.tolist() == [3.0]
    assert e.state.last_good_ts.tolist() == [3.0]


def test_out_of_range_value_is_flagged_and_not_judged() -> None:
    e = engine([spec([0], upper=(10.0, 20.0, 30.0))], low=-50.0, high=50.0)
    result = run(e, [1.0, 2.0, 3.0, 4.0], [50.0, 50.5, -50.5, -50.0])
    assert result.quality.tolist() == [0, 0x40, 0x40, 0]  # the range ends themselves are in range
    assert grade_steps(rows_of(result.transitions)) == [(1.0, 0, 3), (4.0, 3, 0)]
    assert result.rejected == {"out_of_range": 2}
    assert e.state.last_quality.tolist() == [0]
    assert e.state.last_good_ts.tolist() == [4.0]


def test_bad_quality_from_the_source_is_not_judged() -> None:
    e = engine([spec([0], upper=(10.0, 20.0, 30.0))])
    result = run(e, [1.0, 2.0], [35.0, 0.0], quality=[0x10, 0x01])
    assert len(result.transitions) == 0
    assert result.accepted.tolist() == [True, True]
    assert e.state.last_good_ts.tolist() == [2.0]
    assert e.state.readings.tolist() == [2]


def test_callers_quality_array_is_not_modified() -> None:
    e = engine([spec([0], upper=(10.0, 20.0, 30.0))])
    quality = np.zeros(2, dtype=np.uint8)
    e.process(np.array([1.0, 2.0]), np.zeros(2, dtype=np.int32), np.array([np.nan, 1.0]), quality)
    assert quality.tolist() == [0, 0]


def test_out_of_order_across_batches_rejects_everything_older() -> None:
    e = engine([spec([0], upper=(10.0, 20.0, 30.0))])
    run(e, [10.0], [0.0])
    result = run(e, [5.0, 7.0, 12.0, 9.0], [35.0, 35.0, 0.0, 35.0])
    assert result.accepted.tolist() == [False, False, True, False]
    assert result.rejected == {"out_of_order": 3}
    assert len(result.transitions) == 0
    assert e.state.last_ts.tolist() == [12.0]
    assert e.state.last_value.tolist() == [0.0]


def test_duplicate_time_within_a_batch_keeps_the_first() -> None:
    e = engine([spec([0], upper=(10.0, 20.0, 30.0))])
    result = run(e, [5.0, 5.0, 5.0, 6.0], [0.0, 35.0, 35.0, 1.0])
    assert result.accepted.tolist() == [True, False, False, True]
    assert result.rejected == {"duplicate_time": 2}
    assert len(result.transitions) == 0


def test_duplicate_time_across_batches() -> None:
    e = engine([spec([0], upper=(10.0, 20.0, 30.0))])
    run(e, [5.0], [0.0])
    result = run(e, [5.0, 6.0], [35.0, 1.0])
    assert result.accepted.tolist() == [False, True]
    assert result.rejected == {"duplicate_time": 1}
    assert e.rejected_total == {"duplicate_time": 1}


def test_rejected_totals_accumulate() -> None:
    e = engine([spec([0], upper=(10.0, 20.0, 30.0))])
    run(e, [5.0, 5.0], [0.0, 0.0])
    run(e, [4.0, 6.0], [np.nan, np.nan])
    assert e.rejected_total == {"duplicate_time": 1, "out_of_order": 1, "non_finite": 2}


@pytest.mark.parametrize("bad_channel", [-1, 3, 4, 1_000_000, -7])
def test_unknown_channel_is_rejected_and_touches_no_channel(bad_channel: int) -> None:
    e = engine([spec([0, 1, 2], upper=(10.0, 20.0, 30.0))], n=3)
    result = run(e, [1.0, 1.0], [35.0, 1.0], channels=[bad_channel, 2], quality=[0x01, 0])
    assert result.accepted.tolist() == [False, True]
    assert result.quality.tolist() == [0x01, 0]
    assert result.rejected == {"unknown_channel_or_time": 1}
    assert len(result.transitions) == 0
    assert e.channel_grade().tolist() == [0, 0, 0]
    assert e.state.readings.tolist() == [0, 0, 1]


@pytest.mark.parametrize("bad_ts", [np.nan, np.inf, -np.inf])
def test_non_finite_time_is_rejected(bad_ts: float) -> None:
    e = engine([spec([0], upper=(10.0, 20.0, 30.0))])
    result = run(e, [bad_ts, 2.0], [35.0, 1.0])
    assert result.accepted.tolist() == [False, True]
    assert result.rejected == {"unknown_channel_or_time": 1}
    assert len(result.transitions) == 0
    assert e.state.last_ts.tolist() == [2.0]


def test_empty_batch() -> None:
    e = engine([spec([0], upper=(10.0, 20.0, 30.0))])
    run(e, [1.0], [25.0])
    result = run(e, [], [])
    assert len(result.transitions) == 0
    assert result.transitions.binding.dtype == np.intp
    assert result.transitions.old_grade.dtype == np.int8
    assert result.accepted.shape == (0,)
    assert result.quality.shape == (0,)
    assert result.rejected == {}
    assert e.channel_grade().tolist() == [2]
    assert e.state.last_ts.tolist() == [1.0]


def test_engine_without_rules_and_channel_without_rules() -> None:
    e = engine([], n=2)
    result = run(e, [1.0, 1.0], [1e9, -1e9], channels=[0, 1])
    assert result.accepted.tolist() == [True, True]
    assert len(result.transitions) == 0
    assert e.channel_grade().tolist() == [0, 0]

    e = engine([spec([1], upper=(10.0, 20.0, 30.0))], n=2)
    result = run(e, [1.0, 1.0], [35.0, 35.0], channels=[0, 1])
    assert [r[1] for r in rows_of(result.transitions)] == [0]  # binding 0 is channel 1
    assert e.channel_grade().tolist() == [0, 3]
    assert e.state.last_value.tolist() == [35.0, 35.0]


def test_channel_grade_is_the_worst_rule_per_channel() -> None:
    e = engine(
        [
            spec([0, 1], upper=(10.0, 20.0, 30.0), rule=0),
            spec([1, 2], lower=(-10.0, -20.0, -30.0), rule=1),
            spec([1], upper=(1.0, 2.0, 3.0), rule=2),
        ],
        n=4,
    )
    assert e.binding_channel.tolist() == [0, 1, 1, 2, 1]
    assert e.binding_rule.tolist() == [0, 0, 1, 1, 2]
    run(e, [1.0] * 4, [15.0, 2.5, -25.0, 99.0], channels=[0, 1, 2, 3])
    assert e.thresholds.grade.tolist() == [1, 0, 0, 2, 2]
    assert e.channel_grade().tolist() == [1, 2, 2, 0]
    run(e, [2.0, 2.0], [0.0, 0.0], channels=[1, 2])
    assert e.channel_grade().tolist() == [1, 0, 0, 0]


def test_many_readings_per_channel_in_one_shuffled_batch() -> None:
    e = engine([spec([0, 1], upper=(10.0, 20.0, 30.0), hysteresis=1.0)], n=2)
    ts = [4.0, 1.0, 3.0, 2.0, 2.0, 1.0]
    ch = [0, 0, 0, 0, 1, 1]
    val = [0.0, 15.0, 9.5, 25.0, 0.0, 31.0]
    result = run(e, ts, val, channels=ch)
    assert grade_steps(rows_of(result.transitions)) == [
        (1.0, 0, 1),  # channel 0
        (1.0, 0, 3),  # channel 1
        (2.0, 1, 2),
        (2.0, 3, 0),
        (3.0, 2, 1),  # 9.5 leaves orange's band, stays in yellow's
        (4.0, 1, 0),
    ]
    assert e.state.last_value.tolist() == [0.0, 0.0]


def test_simultaneous_transitions_are_ordered_by_binding() -> None:
    """However the readings were cut into batches, equal times come out in binding order."""
    specs = [spec([0, 1, 2], upper=(10.0, 20.0, 30.0))]
    # Channel 0 has an earlier reading in the batch, so its reading at 5 is in a later round.
    rows = rows_of(
        run(engine(specs, n=3), [5.0, 5.0, 5.0, 3.0], [15.0] * 3 + [0.0], channels=[2, 1, 0, 0]).transitions
    )
    assert [(r[0], r[1]) for r in rows] == [(5.0, 0), (5.0, 1), (5.0, 2)]


@pytest.mark.parametrize("channels", [[-1], [2], [0, 5]])
def test_rule_bound_outside_the_channels_is_refused(channels: list[int]) -> None:
    with pytest.raises(ValueError, match="outside"):
        engine([spec(channels, upper=(10.0, 20.0, 30.0))], n=2)


def test_ranges_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        Engine(np.zeros(3), np.zeros(2), [])


def test_channel_state_bookkeeping() -> None:
    e = engine([spec([0, 1], upper=(10.0, 20.0, 30.0))], n=2)
    run(e, [1.0, 2.0, 1.0], [5.0, 6.0, 7.0], channels=[0, 0, 1])
    run(e, [3.0, 4.0, 2.0], [np.nan, 8.0, 9.0], channels=[0, 0, 1], quality=[0, 0x10, 0x01])
    assert e.state.last_ts.tolist() == [4.0, 2.0]
    assert e.state.last_value.tolist() == [8.0, 9.0]
    assert e.state.last_quality.tolist() == [0x10, 0x01]
    assert e.state.last_good_ts.tolist() == [2.0, 2.0]  # NaN at 3 and bad at 4 are not good
    assert e.state.readings.tolist() == [4, 2]
