"""The reference itself, on hand-worked series: the other tests trust it, so it is checked first."""

from __future__ import annotations

import math

import pytest

from tests.analytics.reference import NAN, RefBinding, ReferenceEngine, direction_grade, lowest_set

UP = (10.0, 20.0, 30.0)
DOWN = (-10.0, -20.0, -30.0)


@pytest.mark.parametrize(
    ("value", "old", "expected"),
    [
        (9.0, 0, 0),
        (10.0, 0, 1),  # at the limit counts
        (19.99, 0, 1),
        (20.0, 0, 2),
        (31.0, 0, 3),
        (8.0, 1, 1),  # 10 - 2: still held
        (7.99, 1, 0),
        (28.0, 3, 3),
        (27.9, 3, 2),  # red band left, orange still reached
        (17.9, 3, 1),  # orange band left too
        (18.0, 1, 1),  # a band holds a grade, it never raises one
    ],
)
def test_direction_grade_upper(value: float, old: int, expected: int) -> None:
    assert direction_grade(value, UP, old, 2.0, upward=True) == expected


@pytest.mark.parametrize(
    ("value", "old", "expected"),
    [(-9.0, 0, 0), (-10.0, 0, 1), (-8.0, 1, 1), (-7.99, 1, 0), (-30.0, 0, 3), (-28.0, 3, 3), (-27.9, 3, 2)],
)
def test_direction_grade_lower(value: float, old: int, expected: int) -> None:
    assert direction_grade(value, DOWN, old, 2.0, upward=False) == expected


def test_direction_grade_skips_unset_limits() -> None:
    assert direction_grade(25.0, (NAN, NAN, 30.0), 0, 0.0, upward=True) == 0
    assert direction_grade(30.0, (NAN, NAN, 30.0), 0, 0.0, upward=True) == 3
    assert direction_grade(1e9, (NAN, NAN, NAN), 0, 0.0, upward=True) == 0


def test_lowest_set() -> None:
    assert lowest_set((NAN, 20.0, 30.0)) == 20.0
    assert math.isnan(lowest_set((NAN, NAN, NAN)))


def test_reference_series() -> None:
    ref = ReferenceEngine([-100.0], [100.0], [RefBinding(0, UP, DOWN, 2.0)])
    series = [0.0, 10.0, 8.0, 31.0, 15.0, 7.0, -12.0, -50.0, 200.0, math.nan, -7.9]
    rows = []
    for t, v in enumerate(series):
        rows += ref.process([(float(t), 0, v, 0)])[2]
    assert rows == [
        (1.0, 0, 0, 1, 10.0, 10.0, True),
        (3.0, 0, 1, 3, 31.0, 30.0, True),
        (4.0, 0, 3, 1, 15.0, 10.0, True),
        (5.0, 0, 1, 0, 7.0, 10.0, True),
        (6.0, 0, 0, 1, -12.0, -10.0, False),
        (7.0, 0, 1, 3, -50.0, -30.0, False),
        # 200 is out of range and NaN is not a value: neither is judged; -7.9 clears.
        (10.0, 0, 3, 0, -7.9, -10.0, False),
    ]
    assert ref.rejected == {"out_of_range": 1, "non_finite": 1}


def test_reference_rejects_old_and_repeated_times() -> None:
    ref = ReferenceEngine([-100.0], [100.0], [RefBinding(0, UP, DOWN, 0.0)])
    accepted, _, _ = ref.process([(5.0, 0, 0.0, 0), (5.0, 0, 50.0, 0), (3.0, 0, 50.0, 0)])
    assert accepted == [True, False, True]  # a batch is taken in time order: 3 then 5
    accepted, _, rows = ref.process([(5.0, 0, 50.0, 0), (4.0, 0, 50.0, 0)])
    assert accepted == [False, False]
    assert rows == []
    assert ref.rejected == {"duplicate_time": 2, "out_of_order": 1}
