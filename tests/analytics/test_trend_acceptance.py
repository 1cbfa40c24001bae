"""Trend tables on the situations they exist for: creep to failure, drift to a limit, noise, spikes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from analytics import trend
from analytics.rounds import to_block
from analytics.table import TableResult

DAY = 86400.0
HOUR = 3600.0
T0 = 1.7e9
ONE = np.array([0], dtype=np.int32)


def run(
    table: Any, t: np.ndarray, v: np.ndarray, block: int, ch: np.ndarray | None = None, n_ch: int = 1
) -> tuple[TableResult, list[tuple[float, np.ndarray]]]:
    """Feed in blocks; return all changes and, after each block, (last time, copy of a state array)."""
    ch = np.zeros(len(t), dtype=np.int32) if ch is None else ch
    q = np.zeros(len(t), dtype=np.uint8)
    parts, states = [], []
    for a in range(0, len(t), block):
        b = min(len(t), a + block)
        parts.append(table.evaluate(to_block(t[a:b], ch[a:b], v[a:b], q[a:b], n_ch)))
        states.append((float(t[b - 1]), table.grade.copy()))
    return TableResult.concat(parts), states


def test_failure_forecast_within_ten_percent_in_last_thirty_percent() -> None:
    rng = np.random.default_rng(1)
    tf = 10 * DAY
    t = np.arange(0.0, 0.97 * tf, 60.0)
    a = 10.0  # mm; v = a / (tf - t): dv/dt = v² / a (alpha = 2)
    x = -a * np.log((tf - t) / tf) + rng.normal(0, 0.01, len(t))
    table = trend.FailureForecastTable(
        [trend.FailureForecastSpec(rule=0, channels=ONE, window_s=2 * DAY, velocity_window_s=2 * HOUR,
                                   horizons_s=(3 * DAY, DAY, 8 * HOUR), min_r2=0.8, min_samples=8)]
    )  # fmt: skip
    q = np.zeros(len(t), dtype=np.uint8)
    ch = np.zeros(len(t), dtype=np.int32)
    checked = 0
    for lo in range(0, len(t), 30):
        hi = min(len(t), lo + 30)
        table.evaluate(to_block(T0 + t[lo:hi], ch[lo:hi], x[lo:hi], q[lo:hi], 1))
        now = t[hi - 1]
        if now >= 0.7 * t[-1]:
            remaining = tf - now
            forecast = table.failure_time[0] - T0 - now
            assert abs(forecast - remaining) <= 0.1 * remaining, (now / DAY, forecast / DAY, remaining / DAY)
            checked += 1
    assert checked > 100
    assert table.grade[0] == 3


def test_failure_forecast_events_carry_failure_time() -> None:
    tf = 4 * DAY
    t = np.arange(0.0, 0.95 * tf, 120.0)
    x = -5.0 * np.log((tf - t) / tf)
    table = trend.FailureForecastTable(
        [trend.FailureForecastSpec(rule=0, channels=ONE, window_s=DAY, velocity_window_s=HOUR,
                                   horizons_s=(2 * DAY, DAY, 6 * HOUR))]
    )  # fmt: skip
    res, _ = run(table, T0 + t, x, 500)
    assert list(res.new_grade) == [1, 2, 3]
    np.testing.assert_allclose(res.failure_time, T0 + tf, rtol=0, atol=0.02 * tf)
    np.testing.assert_allclose(res.time_to_limit_s, res.failure_time - res.ts)
    assert (res.time_to_limit_s <= np.array([2 * DAY, DAY, 6 * HOUR])).all()


def test_time_to_limit_of_linear_drift_within_ten_percent() -> None:
    rng = np.random.default_rng(2)
    t = np.arange(0.0, 20 * DAY, 300.0)
    rate = 0.5 / DAY
    v = 1.0 + rate * t + rng.normal(0, 0.1, len(t))
    limit = 10.0
    table = trend.TimeToLimitTable(
        [trend.TimeToLimitSpec(rule=0, channels=ONE, window_s=2 * DAY, limit=limit,
                               horizons_s=(5 * DAY, 2 * DAY, DAY))]
    )  # fmt: skip
    q = np.zeros(len(t), dtype=np.uint8)
    ch = np.zeros(len(t), dtype=np.int32)
    checked = 0
    events = []
    for lo in range(0, len(t), 7):
        hi = min(len(t), lo + 7)
        events.append(table.evaluate(to_block(T0 + t[lo:hi], ch[lo:hi], v[lo:hi], q[lo:hi], 1)))
        now = t[hi - 1]
        true_ttl = (limit - 1.0) / rate - now
        if now >= 2 * DAY and true_ttl >= 0.5 * DAY:
            assert abs(table.time_to_limit_s[0] - true_ttl) <= 0.1 * true_ttl
            checked += 1
    assert checked > 100
    res = TableResult.concat(events)
    assert list(res.new_grade[:3]) == [1, 2, 3]
    reach = T0 + (limit - 1.0) / rate
    for grade, horizon in ((1, 5 * DAY), (2, 2 * DAY), (3, DAY)):
        first = res.ts[list(res.new_grade).index(grade)]
        assert abs((reach - first) - horizon) <= 0.1 * horizon
    assert (res.value < limit).all() or res.new_grade[-1] == 3


def test_time_to_limit_downward_limit() -> None:
    t = np.arange(0.0, 10 * DAY, 600.0)
    v = -0.8 / DAY * t
    table = trend.TimeToLimitTable(
        [
            trend.TimeToLimitSpec(
                rule=0, channels=ONE, window_s=DAY, limit=-6.0, horizons_s=(3 * DAY, DAY, HOUR)
            )
        ]
    )
    res, _ = run(table, T0 + t, v, 100)
    assert list(res.new_grade) == [1, 2, 3]
    assert not res.upward.any()


def test_week_of_noise_raises_nothing() -> None:
    """One week at 1 Hz of pure noise, sigma 0.5 mm, against a 10 mm limit."""
    rng = np.random.default_rng(7)
    n_ch = 2
    t1 = np.arange(0.0, 7 * DAY, 1.0)
    t = np.concatenate([t1] * n_ch) + T0
    ch = np.repeat(np.arange(n_ch, dtype=np.int32), len(t1))
    v = rng.normal(0, 0.5, len(t))
    order = np.argsort(t, kind="stable")
    t, ch, v = t[order], ch[order], v[order]
    chans = np.arange(n_ch, dtype=np.int32)
    tables: list[Any] = [
        trend.RateTable(
            [trend.RateSpec(rule=0, channels=chans, window_s=DAY, upper=(2.0, 3.0, 4.0),
                            lower=(-2.0, -3.0, -4.0), hysteresis=0.2, sustained_share=0.7)]
        ),
        trend.TimeToLimitTable(
            [trend.TimeToLimitSpec(rule=1, channels=chans, window_s=6 * HOUR, limit=10.0,
                                   horizons_s=(DAY, 12 * HOUR, 2 * HOUR))]
        ),
        trend.FailureForecastTable(
            [trend.FailureForecastSpec(rule=2, channels=chans, window_s=DAY, velocity_window_s=2 * HOUR,
                                       horizons_s=(2 * DAY, DAY, 6 * HOUR))]
        ),
    ]  # fmt: skip
    for table in tables:
        res, _ = run(table, t, v, 20_000, ch, n_ch)
        assert len(res) == 0, type(table).__name__


def quiet_with_spikes(rng: np.random.Generator, days: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0.0, days * DAY, step)
    v = 3.0 + rng.normal(0, 0.05, len(t))
    spikes = np.flatnonzero(rng.random(len(t)) < step / (3 * HOUR))
    v[spikes] += rng.choice([-50.0, 50.0], len(spikes))
    assert len(spikes) > 10
    return T0 + t, v


def trend_tables(ch: np.ndarray) -> list[Any]:
    return [
        trend.RateTable(
            [trend.RateSpec(rule=0, channels=ch, window_s=DAY, upper=(2.0, 3.0, 4.0),
                            lower=(-2.0, -3.0, -4.0), sustained_share=0.7),
             trend.RateSpec(rule=1, channels=ch, window_s=2 * HOUR, per_s=HOUR, upper=(0.5, 1.0, 2.0),
                            lower=(-0.5, -1.0, -2.0), min_samples=10)]
        ),
        trend.TimeToLimitTable(
            [trend.TimeToLimitSpec(rule=2, channels=ch, window_s=6 * HOUR, limit=10.0,
                                   horizons_s=(DAY, 12 * HOUR, 2 * HOUR))]
        ),
        trend.AccelerationTable(
            [trend.AccelerationSpec(rule=3, channels=ch, window_s=6 * HOUR, min_rate=0.5)]
        ),
        trend.FailureForecastTable(
            [trend.FailureForecastSpec(rule=4, channels=ch, window_s=DAY, velocity_window_s=2 * HOUR,
                                       horizons_s=(2 * DAY, DAY, 6 * HOUR))]
        ),
    ]  # fmt: skip


def test_isolated_spikes_raise_no_trend_alarm() -> None:
    rng = np.random.default_rng(11)
    for step in (60.0, 600.0):
        t, v = quiet_with_spikes(rng, 8, step)
        for table in trend_tables(ONE):
            res, _ = run(table, t, v, 97)
            assert len(res) == 0, (step, type(table).__name__)


def test_nan_samples_are_ignored() -> None:
    """A series with NaN readings among it judges exactly as the series without them."""
    rng = np.random.default_rng(5)
    t = T0 + np.arange(0.0, 11.5 * DAY, 300.0)
    x = (t - T0) / DAY
    v = -5.0 * np.log((12 - x) / 12) + rng.normal(0, 0.02, len(t))
    holes = rng.random(len(t)) < 0.1
    with_nan = v.copy()
    with_nan[holes] = np.nan
    for clean, dirty in zip(trend_tables(ONE), trend_tables(ONE), strict=True):
        a, _ = run(clean, t[~holes], v[~holes], 50)
        b, _ = run(dirty, t, with_nan, 50)
        assert len(a) > 0, type(clean).__name__
        np.testing.assert_array_equal(a.new_grade, b.new_grade)
        np.testing.assert_array_equal(a.ts, b.ts)
        np.testing.assert_allclose(a.value, b.value, rtol=1e-9)


def test_gb50497_sustained_rate_rule() -> None:
    """Rate over 70 % of its limit on 3 consecutive days raises orange on its own row."""
    day0 = T0 - (T0 + 8 * HOUR) % DAY  # local midnight (UTC+8)
    t = np.arange(0.0, 8 * DAY, 600.0)
    rate = np.where(t < 4 * DAY, 1.5, 0.2) / DAY  # 1.5 mm/d > 0.7 x 2 mm/d, then quiet
    v = np.cumsum(np.concatenate([[0.0], np.diff(t) * rate[1:]]))
    table = trend.RateTable(
        [trend.RateSpec(rule=0, channels=ONE, window_s=DAY, upper=(2.0, 3.0, 4.0), sustained_share=0.7,
                        sustained_days=3, sustained_grade=2)]
    )  # fmt: skip
    assert list(table.is_sustained) == [False, True]
    res, _ = run(table, day0 + t, v, 37)
    assert list(res.row) == [1, 1]
    assert list(res.new_grade) == [2, 0]
    # Raised when day 3 closes (first evaluation of day 4), cleared when the first quiet day closes.
    assert 3 * DAY <= res.ts[0] - day0 < 3 * DAY + HOUR
    assert 5 * DAY <= res.ts[1] - day0 < 5 * DAY + HOUR
    np.testing.assert_allclose(res.limit, 1.4)
    assert res.value[0] > 1.4 and res.value[1] < 1.4


def test_sustained_run_broken_by_a_day_without_data() -> None:
    day0 = T0 - (T0 + 8 * HOUR) % DAY
    t = np.arange(0.0, 7 * DAY, 600.0)
    t = t[(t < 2 * DAY) | (t >= 3 * DAY)]  # no data on day 3
    v = 1.5 / DAY * t
    table = trend.RateTable(
        [trend.RateSpec(rule=0, channels=ONE, window_s=DAY, upper=(2.0, 3.0, 4.0), sustained_share=0.7)]
    )
    res, _ = run(table, day0 + t, v, 64)
    assert list(res.new_grade) == [2]
    assert res.ts[0] - day0 >= 6 * DAY  # days 4, 5, 6 counted after the gap


def test_rate_limits_and_direction() -> None:
    t = np.arange(0.0, 6 * DAY, 600.0)
    v = np.where(t < 3 * DAY, 3.5 / DAY * t, 3.5 * 3 - 3.5 / DAY * (t - 3 * DAY))
    table = trend.RateTable(
        [trend.RateSpec(rule=0, channels=ONE, window_s=DAY / 2, upper=(2.0, 3.0, 4.0),
                        lower=(-2.0, -3.0, -4.0), hysteresis=0.1)]
    )  # fmt: skip
    res, _ = run(table, T0 + t, v, 100)
    ups = res.upward[res.new_grade == 2]
    assert list(ups) == [True, False]
    assert math.isclose(res.limit[res.new_grade == 2][0], 3.0)
    assert table.grade[0] == 2


def test_acceleration_raises_on_creep_and_clears_when_it_converges() -> None:
    t = np.arange(0.0, 12 * DAY, 300.0)
    x = t / DAY
    v = np.where(x < 6, 0.2 * x**2, 0.2 * 36 + 2.4 * (x - 6) * np.exp(-(x - 6)))
    table = trend.AccelerationTable(
        [trend.AccelerationSpec(rule=0, channels=ONE, window_s=DAY, windows=3, min_rate=0.1, grade=3)]
    )
    res, _ = run(table, T0 + t, v, 100)
    assert list(res.new_grade) == [3, 0]
    assert res.ts[0] - T0 < 4 * DAY
    assert res.ts[1] - T0 > 6 * DAY
