"""Properties of the trend tables on arbitrary series: grades move only through reported changes, and
every alarm clears once the data return to normal (flat at the starting level)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import trend
from analytics.rounds import to_block
from analytics.table import TableResult

HOUR = 3600.0
DAY = 86400.0
T0 = 1.7e9
CH = np.array([0, 1], dtype=np.int32)

segment = st.tuples(
    st.sampled_from(["flat", "ramp", "creep", "noise", "spike", "gap"]),
    st.integers(5, 120),  # samples
    st.floats(-20.0, 20.0),  # size
)


def series(segments: list[tuple[str, int, float]], step: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t_parts, v_parts = [], []
    t, level = 0.0, 0.0
    for kind, n, size in segments:
        tt = t + step * np.arange(1, n + 1) * rng.uniform(0.5, 1.5)
        u = np.linspace(0, 1, n)
        if kind == "flat":
            v = np.full(n, level)
        elif kind == "ramp":
            v = level + size * u
        elif kind == "creep":
            v = level + size * -np.log(1.02 - u) / np.log(51)
        elif kind == "noise":
            v = level + rng.normal(0, abs(size) / 10 + 0.01, n)
        elif kind == "spike":
            v = np.full(n, level)
            v[n // 2] += size * 5
        else:  # no data for a while
            tt = tt[-1:] + step * n
            v = np.array([level])
        t_parts.append(tt)
        v_parts.append(v)
        t, level = float(tt[-1]), float(v[-1]) if kind != "spike" else level
    return np.concatenate(t_parts), np.concatenate(v_parts)


def tables() -> list[Any]:
    return [
        trend.RateTable(
            [trend.RateSpec(rule=0, channels=CH, window_s=HOUR, per_s=HOUR, upper=(2.0, 4.0, 8.0),
                            lower=(-2.0, -4.0, -8.0), hysteresis=0.5, min_samples=4, sustained_share=0.5,
                            sustained_days=1)]
        ),
        trend.AccelerationTable(
            [trend.AccelerationSpec(rule=1, channels=CH, window_s=HOUR / 2, per_s=HOUR, windows=2)]
        ),
        trend.TimeToLimitTable(
            [trend.TimeToLimitSpec(rule=2, channels=CH, window_s=HOUR, limit=15.0,
                                   horizons_s=(4 * HOUR, HOUR, 600.0), min_samples=4)]
        ),
        trend.FailureForecastTable(
            [trend.FailureForecastSpec(rule=3, channels=CH, window_s=2 * HOUR, velocity_window_s=900.0,
                                       horizons_s=(4 * HOUR, HOUR, 600.0), min_r2=0.5, min_samples=4)]
        ),
    ]  # fmt: skip


def check_changes(res: TableResult, current: np.ndarray) -> None:
    """Each change starts from the grade the row had (0 at first); advances ``current``."""
    for i in range(len(res)):
        row = int(res.row[i])
        assert res.old_grade[i] == current[row]
        assert res.new_grade[i] != res.old_grade[i]
        current[row] = res.new_grade[i]
    for row in np.unique(res.row):
        assert (np.diff(res.ts[res.row == row]) >= 0).all()


@settings(max_examples=30, deadline=None)
@given(
    a=st.lists(segment, min_size=1, max_size=8),
    b=st.lists(segment, min_size=1, max_size=8),
    step=st.sampled_from([10.0, 60.0, 300.0]),
    seed=st.integers(0, 2**16),
    block=st.integers(7, 500),
)
def test_grades_move_by_reported_changes_and_clear_when_flat(
    a: list[tuple[str, int, float]],
    b: list[tuple[str, int, float]],
    step: float,
    seed: int,
    block: int,
) -> None:
    ta, va = series(a, step, seed)
    tb, vb = series(b, step, seed + 1)
    # Back to normal: flat at the starting level for three days (sustained days close, windows fill).
    tail_a = ta[-1] + np.arange(1, 3 * 24 * 12 + 1) * 300.0
    tail_b = tb[-1] + np.arange(1, 3 * 24 * 12 + 1) * 300.0
    t = T0 + np.concatenate([ta, tail_a, tb, tail_b])
    v = np.concatenate([va, np.zeros(len(tail_a)), vb, np.zeros(len(tail_b))])
    ch = np.concatenate([np.zeros(len(ta) + len(tail_a)), np.ones(len(tb) + len(tail_b))]).astype(np.int32)
    order = np.argsort(t, kind="stable")
    t, v, ch = t[order], v[order], ch[order]
    q = np.zeros(len(t), dtype=np.uint8)
    for table in tables():
        current = np.zeros(len(table.grade), dtype=np.int8)
        raised = 0
        for lo in range(0, len(t), block):
            hi = lo + block
            res = table.evaluate(to_block(t[lo:hi], ch[lo:hi], v[lo:hi], q[lo:hi], 2))
            check_changes(res, current)
            np.testing.assert_array_equal(current, table.grade)
            raised += int((res.new_grade > 0).sum())
        assert (table.grade == 0).all(), (type(table).__name__, raised)
