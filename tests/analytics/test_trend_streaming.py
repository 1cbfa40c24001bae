"""Trend tables: streaming equals batch, and both equal an independent per-window reference.

The reference follows the stated definition sample by sample with numpy/scipy: a row is judged at
each usable sample that opens a new slot (slot = floor((t - phase) / (window_s / slots))); the window
is that sample plus the usable samples of the previous ``slots - 1`` slot numbers; slots whose mean
lies outside median ± k·1.4826·MAD of the slot means (MAD 0: mean absolute deviation ×1.2533) are
dropped; ``scipy.stats.linregress`` fits the rest. Only the slot grid (phase, width) is read from the
table, as a parameter of the definition.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import stats

from analytics import trend
from analytics.rounds import to_block
from analytics.table import TableResult
from tests.analytics.reference import direction_grade, random_cuts, rows_from

BAD = 0x10
Event = tuple[int, int, int, float, float]


def make_stream(
    rng: np.random.Generator, n_channels: int, per_channel: int, step: float, dirty: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ts, ch, val, q = [], [], [], []
    for c in range(n_channels):
        t = 1.7e9 + np.cumsum(rng.uniform(0.3, 1.7, per_channel) * step)
        slope = rng.uniform(-3, 3) / 86400.0
        bend = rng.uniform(0, 4) / 86400.0**2
        x = t - t[0]
        v = 10 + slope * x + bend * x * x / 2 + rng.normal(0, 0.05, per_channel)
        quality = np.zeros(per_channel, dtype=np.uint8)
        if dirty:
            spikes = rng.random(per_channel) < 0.02
            v[spikes] += rng.choice([-50.0, 50.0], int(spikes.sum()))
            v[rng.random(per_channel) < 0.02] = np.nan
            quality[rng.random(per_channel) < 0.03] = BAD
        ts.append(t)
        ch.append(np.full(per_channel, c, dtype=np.int32))
        val.append(v)
        q.append(quality)
    return np.concatenate(ts), np.concatenate(ch), np.concatenate(val), np.concatenate(q)


def cuts(rng: np.random.Generator | None, n: int, max_block: int) -> list[tuple[int, int]]:
    return [(0, n)] if rng is None else random_cuts(rng, n, max_block)


def feed(table: Any, stream: tuple[np.ndarray, ...], parts: list[tuple[int, int]], n_ch: int) -> list[Event]:
    """Feed in time order (cut points on the global time axis), collect the changes."""
    ts, ch, val, q = stream
    order = np.argsort(ts, kind="stable")
    ts, ch, val, q = ts[order], ch[order], val[order], q[order]
    results: list[TableResult] = []
    for a, b in parts:
        results.append(table.evaluate(to_block(ts[a:b], ch[a:b], val[a:b], q[a:b], n_ch)))
    r = TableResult.concat(results)
    events = rows_from(r.row, r.old_grade, r.new_grade, r.ts, r.value)
    return sorted(events, key=lambda e: (e[0], e[3]))


def assert_same(a: list[Event], b: list[Event]) -> None:
    """Same changes at the same times; judged values equal up to rounding (sums added in another order)."""
    assert [e[:4] for e in a] == [e[:4] for e in b]
    np.testing.assert_allclose([e[4] for e in a], [e[4] for e in b], rtol=1e-7, atol=1e-9)


# --- the independent reference -------------------------------------------------------------------


def hampel_slots(sid: np.ndarray, v: np.ndarray, k: float) -> np.ndarray:
    """Mask of samples whose slot mean passes Hampel over the window's slot means."""
    slots = np.unique(sid)
    means = np.array([v[sid == s].mean() for s in slots])
    med = np.median(means)
    dev = np.abs(means - med)
    mad = np.median(dev)
    scale = 1.4826 * mad if mad > 0 else 1.2533 * dev.mean()
    keep_slots = slots[dev <= k * scale]
    return np.isin(sid, keep_slots)


def reference_fits(
    t: np.ndarray,
    v: np.ndarray,
    ok: np.ndarray,
    phase: float,
    width: float,
    span: int,
    k: float,
    min_n: float,
    min_span_s: float,
) -> list[tuple[float, float, float, float, float]]:
    """(eval time, slope per s, fitted value at eval, mean inlier time, slope stderr, slope supported
    at 95 % one-sided) per judged sample."""
    t, v = t[ok], v[ok]
    sid = np.floor((t - phase) / width).astype(np.int64)
    out = []
    last = None
    for i in range(len(t)):
        if last is not None and sid[i] <= last:
            continue
        last = sid[i]
        sel = np.flatnonzero((sid > sid[i] - span) & (np.arange(len(t)) < i))
        sel = np.append(sel, i)
        keep = sel[hampel_slots(sid[sel], v[sel], k)]
        covered = (sid[keep].max() - sid[keep].min() + 1) * width
        if len(keep) < max(min_n, 2) or np.ptp(t[keep]) == 0 or covered < min_span_s:
            out.append((t[i], math.nan, math.nan, math.nan, math.nan, math.nan))
            continue
        fit = stats.linregress(t[keep] - t[i], v[keep])
        margin = stats.t.ppf(0.95, max(len(keep) - 2, 1)) * fit.stderr
        supported = math.copysign(max(abs(fit.slope) - margin, 0.0), fit.slope)
        out.append((t[i], fit.slope, fit.intercept, t[keep].mean() - t[i], fit.stderr, supported))
    return out


def channel_series(stream: tuple[np.ndarray, ...], c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts, ch, val, q = stream
    m = ch == c
    t, v, qq = ts[m], val[m], q[m]
    o = np.argsort(t, kind="stable")
    t, v, qq = t[o], v[o], qq[o]
    return t, v, (qq < BAD) & np.isfinite(v)


def slot_fits(table: Any, stream: tuple[np.ndarray, ...], row: int) -> tuple[Any, ...]:
    """A row's channel series (time, value, usable) and the reference fits over the row's own slots."""
    t, v, ok = channel_series(stream, int(table.channel[row]))
    sw = table.windows
    fits = reference_fits(
        t, v, ok, sw.phase_s[row], sw.slot_s[row], table.slots, table.hampel_k[row],
        table.min_samples[row], 0.5 * table.window_s[row],
    )  # fmt: skip
    return t, v, ok, fits


def assert_cuts_agree(
    table: Callable[[], Any],
    reference: Callable[[Any, tuple[np.ndarray, ...]], list[Event]],
    stream: tuple[np.ndarray, ...],
    rng: np.random.Generator,
    n_ch: int,
    same: Callable[[list[Event], list[Event]], None],
) -> list[Event]:
    """Fed whole, one reading at a time and in random cuts: the same events, and the reference's."""
    n = len(stream[0])
    whole = feed(table(), stream, [(0, n)], n_ch)
    for parts in ([(i, i + 1) for i in range(n)], cuts(rng, n, 9), cuts(rng, n, 250)):
        same(whole, feed(table(), stream, parts, n_ch))
    same(whole, reference(table(), stream))
    return whole


# --- rate ------------------------------------------------------------------------------------------


def rate_specs() -> list[trend.RateSpec]:
    return [
        trend.RateSpec(rule=0, channels=np.array([0, 1, 2], np.int32), window_s=6 * 3600.0,
                       upper=(1.0, 2.0, 3.0), lower=(-1.0, -2.0, -3.0), hysteresis=0.2, min_samples=5),
        trend.RateSpec(rule=1, channels=np.array([1], np.int32), window_s=3600.0, per_s=3600.0,
                       upper=(0.05, math.nan, 0.2), hysteresis=0.0, min_samples=3, hampel_k=2.5),
    ]  # fmt: skip


def rate_reference(table: trend.RateTable, stream: tuple[np.ndarray, ...]) -> list[Event]:
    events: list[Event] = []
    for row in range(table.m):
        *_, fits = slot_fits(table, stream, row)
        up = down = 0
        upper = tuple(table.upper[row].tolist())
        lower = tuple(table.lower[row].tolist())
        h = float(table.hysteresis[row])
        for te, slope, *_, supported in fits:
            if math.isnan(slope):
                continue
            rate = supported * table.per_s[row]
            new_up = direction_grade(rate, upper, up, h, True)  # type: ignore[arg-type]
            new_down = direction_grade(rate, lower, down, h, False)  # type: ignore[arg-type]
            if max(new_up, new_down) != max(up, down):
                events.append((row, max(up, down), max(new_up, new_down), te, rate))
            up, down = new_up, new_down
    return sorted(events, key=lambda e: (e[0], e[3]))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dirty", [False, True], ids=["clean", "dirty"])
def test_rate_streams_equal_whole_and_reference(seed: int, dirty: bool) -> None:
    rng = np.random.default_rng(seed)
    step = float(rng.choice([60.0, 300.0, 1200.0]))
    stream = make_stream(rng, 3, int(rng.integers(100, 400)), step, dirty)
    n = len(stream[0])
    whole = feed(trend.RateTable(rate_specs()), stream, [(0, n)], 3)
    one = feed(trend.RateTable(rate_specs()), stream, [(i, i + 1) for i in range(n)], 3)
    small = feed(trend.RateTable(rate_specs()), stream, cuts(rng, n, 7), 3)
    large = feed(trend.RateTable(rate_specs()), stream, cuts(rng, n, 300), 3)
    for other in (one, small, large):
        assert_same(whole, other)
    graded = [e for e in whole if e[0] < 4]
    assert_same(graded, rate_reference(trend.RateTable(rate_specs()), stream))


def test_rate_reference_sees_alarms() -> None:
    """Guard against a vacuous comparison: the random streams do raise rate alarms."""
    rng = np.random.default_rng(3)
    stream = make_stream(rng, 3, 300, 300.0, dirty=False)
    assert rate_reference(trend.RateTable(rate_specs()), stream)


# --- time to limit -----------------------------------------------------------------------------------


def ttl_specs() -> list[trend.TimeToLimitSpec]:
    return [
        trend.TimeToLimitSpec(rule=0, channels=np.array([0, 1, 2], np.int32), window_s=6 * 3600.0, limit=14.0,
                              horizons_s=(86400.0, 43200.0, 6 * 3600.0), min_samples=5),
        trend.TimeToLimitSpec(rule=1, channels=np.array([0, 1, 2], np.int32), window_s=3 * 3600.0, limit=6.0,
                              horizons_s=(2 * 86400.0, math.nan, 3 * 3600.0), min_samples=4, hampel_k=2.0),
    ]  # fmt: skip


def horizon_grade(ttl: float, horizons: tuple[float, ...], grade: int) -> int:
    """The highest grade whose horizon (yellow, orange, red; NaN: none) the time left is within; the grade
    held keeps until 10 % past its horizon."""
    for g in (3, 2, 1):
        hz = horizons[g - 1]
        if math.isnan(hz):
            continue
        if ttl <= hz or (grade >= g and ttl <= hz * 1.1):
            return g
    return 0


def ttl_reference(table: trend.TimeToLimitTable, stream: tuple[np.ndarray, ...]) -> list[Event]:
    events: list[Event] = []
    for row in range(table.m):
        _, v, ok, fits = slot_fits(table, stream, row)
        limit = float(table.limit[row])
        upward = limit >= v[ok][0]
        horizons = tuple(table.horizons[row].tolist())
        grade = 0
        for te, slope, level, *_, supported in fits:
            if math.isnan(slope):
                continue
            gap = limit - level
            if (gap <= 0) if upward else (gap >= 0):
                ttl = 0.0
            elif (supported > 0) if upward else (supported < 0):
                ttl = gap / slope
            else:
                ttl = math.inf
            new = horizon_grade(ttl, horizons, grade)
            if new != grade:
                events.append((row, grade, new, te, level))
            grade = new
    return sorted(events, key=lambda e: (e[0], e[3]))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dirty", [False, True], ids=["clean", "dirty"])
def test_time_to_limit_streams_equal_whole_and_reference(seed: int, dirty: bool) -> None:
    rng = np.random.default_rng(100 + seed)
    stream = make_stream(rng, 3, int(rng.integers(150, 400)), float(rng.choice([120.0, 600.0])), dirty)
    assert_cuts_agree(lambda: trend.TimeToLimitTable(ttl_specs()), ttl_reference, stream, rng, 3, assert_same)


# --- acceleration ------------------------------------------------------------------------------------


def acc_specs() -> list[trend.AccelerationSpec]:
    return [
        trend.AccelerationSpec(rule=0, channels=np.array([0, 1, 2], np.int32), window_s=4 * 3600.0,
                               windows=3),
        trend.AccelerationSpec(rule=1, channels=np.array([0, 1, 2], np.int32), window_s=2 * 3600.0,
                               windows=2, min_rate=0.5, grade=3),
    ]  # fmt: skip


def acc_reference(table: trend.AccelerationTable, stream: tuple[np.ndarray, ...]) -> list[Event]:
    events: list[Event] = []
    s = table.slots
    for row in range(table.m):
        t, v, ok = channel_series(stream, int(table.channel[row]))
        t, v = t[ok], v[ok]
        sw = table.windows
        sid = np.floor((t - sw.phase_s[row]) / sw.slot_s[row]).astype(np.int64)
        win = sid // s
        rates = []  # (time judged, rate, se)
        for i in range(1, len(t)):
            if win[i] > win[i - 1]:
                sel = np.flatnonzero(win == win[i - 1])
                keep = sel[hampel_slots(sid[sel], v[sel], 3.0)]
                covered = (sid[keep].max() - sid[keep].min() + 1) * sw.slot_s[row]
                if len(keep) < 3 or np.ptp(t[keep]) == 0 or covered < 0.5 * table.window_s[row]:
                    continue
                fit = stats.linregress(t[keep], v[keep])
                per = table.per_s[row]
                rates.append((t[i], fit.slope * per, fit.stderr * per))
        grade, run, prev = 0, 0, None
        for te, rate, se in rates:
            if prev is None:
                growing, stops = False, True
            else:
                same = np.sign(rate) == np.sign(prev[0])
                big = abs(rate) >= table.min_rate[row]
                growing = same and big and abs(rate) - abs(prev[0]) > 2.0 * math.hypot(se, prev[1])
                stops = not same or not big or not abs(rate) > abs(prev[0])
            run = run + 1 if growing else 0
            new = grade
            if run >= table.n_windows[row] - 1:
                new = int(table.alarm_grade[row])
            elif stops:
                new = 0
            if new != grade:
                events.append((row, grade, new, te, rate))
            grade, prev = new, (rate, se)
    return sorted(events, key=lambda e: (e[0], e[3]))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dirty", [False, True], ids=["clean", "dirty"])
def test_acceleration_streams_equal_whole_and_reference(seed: int, dirty: bool) -> None:
    rng = np.random.default_rng(200 + seed)
    stream = make_stream(rng, 3, int(rng.integers(200, 500)), float(rng.choice([60.0, 300.0])), dirty)
    assert_cuts_agree(
        lambda: trend.AccelerationTable(acc_specs()), acc_reference, stream, rng, 3, assert_same
    )


# --- failure forecast --------------------------------------------------------------------------------


def ff_specs() -> list[trend.FailureForecastSpec]:
    return [
        trend.FailureForecastSpec(rule=0, channels=np.array([0, 1], np.int32), window_s=86400.0,
                                  velocity_window_s=3 * 3600.0,
                                  horizons_s=(5 * 86400.0, 2 * 86400.0, 86400.0), min_r2=0.5, min_samples=5),
    ]  # fmt: skip


def creep_stream(rng: np.random.Generator, n_channels: int, dirty: bool) -> tuple[np.ndarray, ...]:
    ts, ch, val, q = [], [], [], []
    for c in range(n_channels):
        tf = rng.uniform(3, 8) * 86400.0
        t = np.sort(rng.uniform(0, 0.97 * tf, int(rng.integers(300, 700))))
        v = -20.0 * np.log((tf - t) / tf) + rng.normal(0, 0.02, len(t))
        quality = np.zeros(len(t), dtype=np.uint8)
        if dirty:
            v[rng.random(len(t)) < 0.02] = np.nan
            quality[rng.random(len(t)) < 0.03] = BAD
        ts.append(1.7e9 + t)
        ch.append(np.full(len(t), c, dtype=np.int32))
        val.append(v)
        q.append(quality)
    return np.concatenate(ts), np.concatenate(ch), np.concatenate(val), np.concatenate(q)


def ff_reference(table: trend.FailureForecastTable, stream: tuple[np.ndarray, ...]) -> list[Event]:
    events: list[Event] = []
    for row in range(table.m):
        t, v, ok = channel_series(stream, int(table.channel[row]))
        sw = table.windows
        fits = reference_fits(
            t, v, ok, sw.phase_s[row], sw.slot_s[row], int(table.v_span[row]), 3.0, 3.0,
            0.5 * table.v_span[row] * sw.slot_s[row],
        )  # fmt: skip
        history: list[tuple[float, float, float]] = []  # (center time, velocity, se)
        horizons = tuple(table.horizons[row].tolist())
        grade = 0
        for te, slope, _, t_mean, se, _ in fits:
            history.append((te + t_mean, slope, se))
            now = history[-1][0]
            sign = np.sign(slope)
            run = []
            for tc, u, s in reversed(history[-table.h_capacity :]):
                if not (tc >= now - table.window_s[row] and np.isfinite(u) and sign * u > 3.0 * s):
                    break
                run.append((tc, sign * u))
            if not run:
                ttl, tf = math.inf, math.nan
            else:
                onset = int(np.argmin([u for _, u in run]))
                pts = run[: onset + 1]
                x = np.array([p[0] for p in pts])
                y = 1.0 / np.array([p[1] for p in pts])
                tf = math.nan
                if len(pts) >= table.min_samples[row] and np.ptp(x) > 0:
                    fit = stats.linregress(x - now, y)
                    if fit.slope < 0 and fit.rvalue**2 >= table.min_r2[row]:
                        tf = now - fit.intercept / fit.slope
                ttl = max(tf - te, 0.0) if not math.isnan(tf) else math.nan
            if math.isnan(ttl):
                continue
            new = horizon_grade(ttl, horizons, grade)
            if new != grade:
                events.append((row, grade, new, te, ttl if math.isfinite(ttl) else math.nan))
            grade = new
    return sorted(events, key=lambda e: (e[0], e[3]))


def assert_same_nan(a: list[Event], b: list[Event]) -> None:
    assert [e[:4] for e in a] == [e[:4] for e in b]
    np.testing.assert_allclose([e[4] for e in a], [e[4] for e in b], rtol=1e-6, atol=1e-3)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("dirty", [False, True], ids=["clean", "dirty"])
def test_failure_forecast_streams_equal_whole_and_reference(seed: int, dirty: bool) -> None:
    rng = np.random.default_rng(300 + seed)
    stream = creep_stream(rng, 2, dirty)
    whole = assert_cuts_agree(
        lambda: trend.FailureForecastTable(ff_specs()), ff_reference, stream, rng, 2, assert_same_nan
    )
    assert any(e[2] > 0 for e in whole)
