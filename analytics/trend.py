"""Trend judges: rate (with GB 50497's sustained rule), acceleration, time to limit, failure forecast.

Each table holds the bindings of one rule kind as rows and judges the robust trend of
``analytics.robust`` (slot sums over a trailing window, Hampel on slot means, least squares over the
kept samples). A row is judged at every sample that opens one of its slots, so with sparse data at
every sample and with dense data once per slot (``window_s / slots`` seconds). Judging is by data time
only: the results do not depend on how the stream is cut into blocks.

Tables are built from plain specs, one per configured rule, with the same field names as the config
models in ``gateway.config.rule_config`` (``per`` given in seconds, graded limits as (yellow, orange, red)
tuples with NaN for unset). Grades use hysteresis as ``analytics.thresholds.graded`` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import stdtrit

from analytics.robust import (
    NEVER,
    SX,
    Fit,
    Ring,
    Segments,
    SlotWindows,
    group_starts,
    last_per_row,
    latch,
    latch_grades,
    previous_in_row,
    robust_fit,
    run_length,
)
from analytics.table import Block, TableResult, result

F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]
IDX = npt.NDArray[np.intp]
Limits = tuple[float, float, float]
NAN3: Limits = (math.nan, math.nan, math.nan)
DAY_S = 86400.0
CHINA_UTC_OFFSET_S = 8 * 3600.0
CHUNK = 2048  # evaluations gathered at once (temporaries stay in cache)
# Rates and forecasts are judged on the slope the data support at this one-sided confidence: the
# fitted slope shrunk toward 0 by t(CONFIDENCE, n - 2) standard errors, so that sampling noise alone
# does not cross a limit.
CONFIDENCE = 0.95


def supported_slope(fit: Fit) -> F64:
    """The fit's slope shrunk toward 0 by its one-sided CONFIDENCE margin (0 when the margin covers
    it): the least steep trend that the window's samples support (NaN where no slope)."""
    dof = np.maximum(fit.n - 2.0, 1.0)
    quantile = stdtrit(dof, CONFIDENCE)  # Student's t quantile, as scipy.stats.t.ppf computes it
    with np.errstate(invalid="ignore"):
        shrunk = np.maximum(np.abs(fit.slope) - quantile * fit.se, 0.0)
    return np.asarray(np.where(np.isnan(fit.slope), np.nan, np.copysign(shrunk, fit.slope)), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class RateSpec:
    """A ``rate`` rule bound to channels (columns). ``per_s`` = PER_SECONDS[per]."""

    rule: int
    channels: npt.NDArray[np.int32]
    window_s: float
    per_s: float = DAY_S
    upper: Limits = NAN3
    lower: Limits = NAN3
    hysteresis: float = 0.0
    min_samples: int = 5
    hampel_k: float = 3.0
    sustained_share: float | None = None
    sustained_days: int = 3
    sustained_grade: int = 2


@dataclass(frozen=True, slots=True)
class AccelerationSpec:
    rule: int
    channels: npt.NDArray[np.int32]
    window_s: float
    per_s: float = DAY_S
    windows: int = 3
    min_rate: float = 0.0
    grade: int = 2


@dataclass(frozen=True, slots=True)
class TimeToLimitSpec:
    rule: int
    channels: npt.NDArray[np.int32]
    window_s: float
    limit: float
    horizons_s: Limits  # (yellow, orange, red): farthest first
    min_samples: int = 5
    hampel_k: float = 3.0


@dataclass(frozen=True, slots=True)
class FailureForecastSpec:
    rule: int
    channels: npt.NDArray[np.int32]
    window_s: float
    velocity_window_s: float
    horizons_s: Limits
    min_r2: float = 0.9
    min_samples: int = 8


def _rows(specs: Sequence[Any]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], IDX]:
    """Row layout: one row per (spec, channel); returns channel, rule and each row's spec index."""
    counts = [len(s.channels) for s in specs]
    spec_of = np.repeat(np.arange(len(specs), dtype=np.intp), counts)
    rule = np.array([s.rule for s in specs], dtype=np.int32)[spec_of]
    channel = (
        np.concatenate([np.asarray(s.channels, dtype=np.int32) for s in specs])
        if specs
        else np.zeros(0, dtype=np.int32)
    )
    return channel.astype(np.int32), rule, spec_of


def _per_row(specs: Sequence[Any], name: str, spec_of: IDX) -> F64:
    """A spec field repeated for each of its rows (None becomes NaN); limits give (M, 3)."""
    values = [getattr(s, name) for s in specs]
    if name in ("upper", "lower", "horizons_s"):
        rows = [[np.nan if x is None else float(x) for x in v] for v in values]
        return np.array(rows, dtype=np.float64).reshape(-1, 3)[spec_of]
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)[spec_of]


def _first_set(limits: F64) -> IDX:
    """Index (0..2) of the lowest grade whose limit is set, 0 if none."""
    return np.asarray(np.argmax(~np.isnan(limits), axis=1), dtype=np.intp)


def _pick(limits: F64, index: IDX) -> F64:
    return np.asarray(np.take_along_axis(limits, index[:, None], axis=1)[:, 0], dtype=np.float64)


def _empty_rows(m: int) -> tuple[IDX, I8]:
    return np.zeros(0, dtype=np.intp), np.zeros(m, dtype=np.int8)


class _SlotTable:
    """Shared plumbing: rows, slot windows, chunked evaluation."""

    channel: npt.NDArray[np.int32]
    rule: npt.NDArray[np.int32]
    windows: SlotWindows
    _grade: I8

    def __len__(self) -> int:
        return len(self.channel)

    @property
    def grade(self) -> I8:
        """The grade of every row now (the rate table adds its sustained rows)."""
        return self._grade

    def tick(self, now: float) -> TableResult:
        """Trends are judged on data only: time passing without data changes nothing."""
        del now
        return TableResult.empty()


def _fit_chunks(
    sw: SlotWindows,
    seg: Segments,
    index: IDX,
    width: int,
    span: npt.NDArray[np.int64],
    hampel_k: F64,
    min_samples: F64,
    min_span_s: F64,
) -> Fit:
    """Trailing-window fits for the segments ``index``: the evaluating sample and its row's slots of
    the last ``span`` slot numbers (``span`` per row)."""
    parts: list[Fit] = []
    for lo in range(0, max(len(index), 1), CHUNK):
        idx = index[lo : lo + CHUNK]
        rows = seg.row[idx]
        win = sw.window(seg, idx, width)
        j = seg.sid[idx]
        use = win.sid > (j - span[rows])[:, None]
        parts.append(
            robust_fit(
                win,
                use,
                sw.slot_s[rows],
                j,
                seg.first[idx, SX],
                hampel_k[rows],
                min_samples[rows],
                min_span_s[rows],
            )
        )
    if len(parts) == 1:
        return parts[0]
    return Fit(*(np.concatenate([getattr(p, f) for p in parts]) for f in Fit.__slots__))


class RateTable(_SlotTable):
    """Graded limits on the robust rate, plus GB 50497's sustained rule as rows of their own.

    The judged rate is the slope the window supports at CONFIDENCE (``supported_slope``), per ``per``;
    events carry it as their value.

    Rows 0..M-1 are the graded rate rows (one per rule and channel). Then, for every rate row whose
    rule sets ``sustained_share`` (and a limit), one sustained row with the same channel and rule:
    ``is_sustained`` marks them and ``sustained_of`` names their rate row. A day (data time, day
    boundary at local midnight for ``utc_offset_s``) counts when the rate judged last that day is at
    or beyond ``sustained_share`` of the lowest set upper limit (or the least negative lower limit);
    ``sustained_days`` consecutive counting days raise ``sustained_grade``. A day is judged when the
    first evaluation of a later day arrives; a day without any evaluation breaks the run. Events of
    sustained rows carry the day's rate and the shared limit (share x limit).
    """

    def __init__(
        self,
        specs: list[RateSpec],
        utc_offset_s: float = CHINA_UTC_OFFSET_S,
        slots: int = 32,
        min_coverage: float = 0.5,
    ) -> None:
        objs = specs
        ch, rule, spec_of = _rows(objs)
        m = len(ch)
        self.m = m
        self.slots = slots
        self.window_s = _per_row(objs, "window_s", spec_of)
        self.per_s = _per_row(objs, "per_s", spec_of)
        self.upper = _per_row(objs, "upper", spec_of)
        self.lower = _per_row(objs, "lower", spec_of)
        self.hysteresis = _per_row(objs, "hysteresis", spec_of)
        self.min_samples = _per_row(objs, "min_samples", spec_of)
        self.hampel_k = _per_row(objs, "hampel_k", spec_of)
        self.windows = SlotWindows(ch, self.window_s / slots, slots)
        self.min_span_s = min_coverage * self.window_s
        self.grade_up = np.zeros(m, dtype=np.int8)
        self.grade_down = np.zeros(m, dtype=np.int8)
        self._first_up = _first_set(self.upper)
        self._first_down = _first_set(self.lower)
        self.rate = np.full(m, np.nan)  # latest judged (supported) rate per rate row (per ``per``)

        share = _per_row(objs, "sustained_share", spec_of)
        up1 = _pick(self.upper, self._first_up)
        down1 = _pick(self.lower, self._first_down)
        has = ~np.isnan(share) & (~np.isnan(up1) | ~np.isnan(down1))
        self.sustained_of = np.flatnonzero(has).astype(np.intp)
        s = self.sustained_of
        self.sus_up = share[s] * up1[s]  # NaN when no upper limit
        self.sus_down = share[s] * down1[s]
        self.sus_days = _per_row(objs, "sustained_days", spec_of)[s].astype(np.intp)
        self.sus_grade = _per_row(objs, "sustained_grade", spec_of)[s].astype(np.int8)
        self.utc_offset_s = float(utc_offset_s)
        ms = len(s)
        self._sus_index = np.full(m, -1, dtype=np.intp)
        self._sus_index[s] = np.arange(ms)
        self.sus_day = np.full(ms, NEVER, dtype=np.int64)  # day of the last evaluation
        self.sus_rate = np.full(ms, np.nan)  # rate of the last evaluation
        self.sus_closed = np.full(ms, NEVER, dtype=np.int64)  # last judged day
        self.sus_run = np.zeros(ms, dtype=np.intp)
        self.sus_state = np.zeros(ms, dtype=np.int8)
        self.sus_upward = np.ones(ms, dtype=bool)

        self.channel = np.concatenate([ch, ch[s]]).astype(np.int32)
        self.rule = np.concatenate([rule, rule[s]]).astype(np.int32)
        self.is_sustained = np.concatenate([np.zeros(m, bool), np.ones(ms, bool)])

    @property
    def grade(self) -> I8:
        return np.concatenate([np.maximum(self.grade_up, self.grade_down), self.sus_state])

    def evaluate(self, block: Block) -> TableResult:
        sw = self.windows
        seg = sw.segment(block)
        if len(seg) == 0:
            return TableResult.empty()
        index = np.arange(len(seg), dtype=np.intp)
        span = np.full(self.m, self.slots, dtype=np.int64)
        fit = _fit_chunks(
            sw, seg, index, self.slots - 1, span, self.hampel_k, self.min_samples, self.min_span_s
        )
        sw.commit(seg)
        rows = seg.row
        rate = supported_slope(fit) * self.per_s[rows]
        parts = [self._graded(rows, seg.ts, rate)]
        if len(self.sustained_of):
            parts.append(self._sustained(rows, seg.ts, rate))
        return TableResult.concat([p for p in parts if len(p)])

    def _graded(self, rows: IDX, ts: F64, rate: F64) -> TableResult:
        start = group_starts(rows)
        h = np.repeat(self.hysteresis[rows][:, None], 3, axis=1)
        up = latch_grades(rate, self.upper[rows], h, start, self.grade_up[rows], upward=True)
        down = latch_grades(rate, self.lower[rows], h, start, self.grade_down[rows], upward=False)
        new = np.maximum(up, down)
        old = previous_in_row(new, start, np.maximum(self.grade_up, self.grade_down)[rows])
        prev_up = previous_in_row(up, start, self.grade_up[rows])
        prev_down = previous_in_row(down, start, self.grade_down[rows])
        last_rows, last = last_per_row(rows, self.m)
        self.grade_up[last_rows] = up[last]
        self.grade_down[last_rows] = down[last]
        judged = ~np.isnan(rate)
        r_j, last_j = last_per_row(rows[judged], self.m)
        self.rate[r_j] = rate[judged][last_j]
        c = np.flatnonzero(new != old)
        if len(c) == 0:
            return TableResult.empty()
        rc, nc = rows[c], new[c]
        upward = np.where(nc > 0, up[c] >= down[c], prev_up[c] >= prev_down[c])
        grade_i = np.where(
            nc > 0, nc.astype(np.intp) - 1, np.where(upward, self._first_up[rc], self._first_down[rc])
        )
        limits = np.where(upward[:, None], self.upper[rc], self.lower[rc])
        return result(rc, old[c], nc, ts[c], rate[c], _pick(limits, grade_i), upward)

    def _sustained(self, rows: IDX, ts: F64, rate: F64) -> TableResult:
        sus_of_eval = self._sus_index[rows]
        pick = np.flatnonzero(sus_of_eval >= 0)
        if len(pick) == 0:
            return TableResult.empty()
        srow = sus_of_eval[pick]
        t = ts[pick]
        r = rate[pick]
        day = np.floor((t + self.utc_offset_s) / DAY_S).astype(np.int64)
        start = group_starts(srow)
        prev_day = previous_in_row(day, start, self.sus_day[srow])
        prev_rate = previous_in_row(r, start, self.sus_rate[srow])
        ms = len(self.sustained_of)
        last_rows, last = last_per_row(srow, ms)
        self.sus_day[last_rows] = day[last]
        self.sus_rate[last_rows] = r[last]

        close = np.flatnonzero((day > prev_day) & (prev_day != NEVER))
        if len(close) == 0:
            return TableResult.empty()
        crow = srow[close]
        closed_day = prev_day[close]
        day_rate = prev_rate[close]
        with np.errstate(invalid="ignore"):
            q_up = day_rate >= self.sus_up[crow]
            q_down = day_rate <= self.sus_down[crow]
        qualifies = q_up | q_down
        cstart = group_starts(crow)
        prev_closed = previous_in_row(closed_day, cstart, self.sus_closed[crow])
        consecutive = closed_day == prev_closed + 1
        prev_q = previous_in_row(qualifies, cstart, self.sus_run[crow] > 0)
        run = run_length(qualifies, cstart, self.sus_run[crow], restart=qualifies & ~(consecutive & prev_q))
        new = np.where(run >= self.sus_days[crow], self.sus_grade[crow], 0).astype(np.int8)
        old = previous_in_row(new, cstart, self.sus_state[crow])
        direction = np.where(qualifies, q_up, previous_in_row(q_up, cstart, self.sus_upward[crow]))
        c_rows, c_last = last_per_row(crow, ms)
        self.sus_closed[c_rows] = closed_day[c_last]
        self.sus_run[c_rows] = run[c_last]
        self.sus_state[c_rows] = new[c_last]
        self.sus_upward[c_rows] = direction[c_last]
        ch = np.flatnonzero(new != old)
        if len(ch) == 0:
            return TableResult.empty()
        up = direction[ch]
        limit = np.where(up, self.sus_up[crow[ch]], self.sus_down[crow[ch]])
        return result(self.m + crow[ch], old[ch], new[ch], t[close][ch], day_rate[ch], limit, up)


class AccelerationTable(_SlotTable):
    """The rate over successive non-overlapping windows keeps growing: JGJ 120's "not converging".

    Windows are aligned on a per-row grid of ``window_s``; a window is judged when the first sample
    of a later window arrives (windows with fewer than ``min_samples`` samples are skipped). A step
    counts as growth when the rate's magnitude exceeds the previous judged window's by more than
    ``z`` standard errors of the difference, keeps its sign and is at least ``min_rate``. ``windows``
    successive growing rates (``windows - 1`` growth steps) raise ``grade``; the alarm clears once a
    window's rate no longer grows at all (or falls under ``min_rate`` or changes sign).
    """

    def __init__(
        self,
        specs: list[AccelerationSpec],
        slots: int = 16,
        hampel_k: float = 3.0,
        min_samples: int = 3,
        z: float = 2.0,
        min_coverage: float = 0.5,
    ) -> None:
        objs = specs
        self.channel, self.rule, spec_of = _rows(objs)
        m = len(self.channel)
        self.m = m
        self.slots = slots
        self.z = z
        self.window_s = _per_row(objs, "window_s", spec_of)
        self.per_s = _per_row(objs, "per_s", spec_of)
        self.n_windows = _per_row(objs, "windows", spec_of).astype(np.intp)
        self.min_rate = _per_row(objs, "min_rate", spec_of)
        self.alarm_grade = _per_row(objs, "grade", spec_of).astype(np.int8)
        self.hampel_k = np.full(m, hampel_k)
        self.min_samples = np.full(m, float(min_samples))
        self.windows = SlotWindows(self.channel, self.window_s / slots, slots)
        self.min_span_s = min_coverage * self.window_s
        self._grade = np.zeros(m, dtype=np.int8)
        self.last_rate = np.full(m, np.nan)  # per ``per``
        self.last_se = np.full(m, np.nan)
        self.run = np.zeros(m, dtype=np.intp)

    def evaluate(self, block: Block) -> TableResult:
        sw = self.windows
        seg = sw.segment(block)
        if len(seg) == 0:
            return TableResult.empty()
        s = self.slots
        start = group_starts(seg.row)
        prev_sid = previous_in_row(seg.sid, start, sw.last_sid[seg.row])
        closes = np.flatnonzero((prev_sid != NEVER) & (seg.sid // s > prev_sid // s))
        fits: list[Fit] = []
        for lo in range(0, len(closes), CHUNK):
            idx = closes[lo : lo + CHUNK]
            rows = seg.row[idx]
            win = sw.window(seg, idx, s)
            w0 = (prev_sid[idx] // s) * s
            use = win.sid // s == (w0 // s)[:, None]
            use[:, 0] = False
            fits.append(
                robust_fit(
                    win, use, sw.slot_s[rows], w0, np.zeros(len(idx)), self.hampel_k[rows],
                    self.min_samples[rows], self.min_span_s[rows],
                )
            )  # fmt: skip
        sw.commit(seg)
        if len(closes) == 0:
            return TableResult.empty()
        slope = np.concatenate([f.slope for f in fits])
        se = np.concatenate([f.se for f in fits])
        judged = ~np.isnan(slope)
        ev = closes[judged]
        rows = seg.row[ev]
        if len(rows) == 0:
            return TableResult.empty()
        rate = slope[judged] * self.per_s[rows]
        se_r = se[judged] * self.per_s[rows]
        start = group_starts(rows)
        prev_rate = previous_in_row(rate, start, self.last_rate[rows])
        prev_se = previous_in_row(se_r, start, self.last_se[rows])
        with np.errstate(invalid="ignore"):
            same_sign = np.sign(rate) == np.sign(prev_rate)
            big = np.abs(rate) >= self.min_rate[rows]
            margin = self.z * np.sqrt(se_r**2 + prev_se**2)
            growing = same_sign & big & (np.abs(rate) - np.abs(prev_rate) > margin)
            stops = ~same_sign | ~big | ~(np.abs(rate) > np.abs(prev_rate))
        run = run_length(growing, start, self.run[rows])
        set_ = run >= self.n_windows[rows] - 1
        on = latch(set_, stops & ~set_, start, self._grade[rows] > 0)
        new = np.where(on, self.alarm_grade[rows], 0).astype(np.int8)
        old = previous_in_row(new, start, self._grade[rows])
        last_rows, last = last_per_row(rows, self.m)
        self.last_rate[last_rows] = rate[last]
        self.last_se[last_rows] = se_r[last]
        self.run[last_rows] = run[last]
        self._grade[last_rows] = new[last]
        c = np.flatnonzero(new != old)
        if len(c) == 0:
            return TableResult.empty()
        rc = rows[c]
        return result(rc, old[c], new[c], seg.ts[ev][c], rate[c], self.min_rate[rc], rate[c] >= 0)


class TimeToLimitTable(_SlotTable):
    """The robust trend extrapolated to the control value, as Prometheus ``predict_linear`` does.

    The limit's side is fixed by the row's first usable value (limit above it: an upper limit). The
    time to the limit is (limit - fitted value now) / slope while the trend moves toward the limit
    (even the slope the window supports at CONFIDENCE does: noise alone moves nothing toward it),
    0 once the fitted value is at or past it, and infinite (clears) when it moves away or is flat.
    Grade g is reached when the time is at most ``horizons_s[g]`` and held up to ``1 + hysteresis``
    times that. Events carry the fitted value (``value``), the control limit (``limit``), the limit's
    side (``upward``) and ``time_to_limit_s``.
    """

    def __init__(
        self,
        specs: list[TimeToLimitSpec],
        slots: int = 32,
        hysteresis: float = 0.1,
        min_coverage: float = 0.5,
    ) -> None:
        objs = specs
        self.channel, self.rule, spec_of = _rows(objs)
        m = len(self.channel)
        self.m = m
        self.slots = slots
        self.window_s = _per_row(objs, "window_s", spec_of)
        self.limit = _per_row(objs, "limit", spec_of)
        self.horizons = _per_row(objs, "horizons_s", spec_of)
        self.band = self.horizons * hysteresis
        self.min_samples = _per_row(objs, "min_samples", spec_of)
        self.hampel_k = _per_row(objs, "hampel_k", spec_of)
        self.windows = SlotWindows(self.channel, self.window_s / slots, slots)
        self.min_span_s = min_coverage * self.window_s
        self._grade = np.zeros(m, dtype=np.int8)
        self._first = _first_set(self.horizons)
        self.time_to_limit_s = np.full(m, np.nan)

    def evaluate(self, block: Block) -> TableResult:
        sw = self.windows
        seg = sw.segment(block)
        if len(seg) == 0:
            return TableResult.empty()
        index = np.arange(len(seg), dtype=np.intp)
        span = np.full(self.m, self.slots, dtype=np.int64)
        fit = _fit_chunks(
            sw, seg, index, self.slots - 1, span, self.hampel_k, self.min_samples, self.min_span_s
        )
        sw.commit(seg)
        rows = seg.row
        level = fit.level + sw.v0[rows]
        upward = self.limit[rows] >= sw.v0[rows]
        gap = self.limit[rows] - level
        slope = fit.slope
        supported = supported_slope(fit)
        with np.errstate(invalid="ignore", divide="ignore"):
            toward = np.where(upward, supported > 0, supported < 0)
            past = np.where(upward, gap <= 0, gap >= 0)
            ttl = np.where(past, 0.0, np.where(toward, gap / slope, np.inf))
        ttl = np.where(np.isnan(slope), np.nan, ttl)
        start = group_starts(rows)
        new = latch_grades(ttl, self.horizons[rows], self.band[rows], start, self._grade[rows], upward=False)
        old = previous_in_row(new, start, self._grade[rows])
        last_rows, last = last_per_row(rows, self.m)
        self._grade[last_rows] = new[last]
        judged = ~np.isnan(ttl)
        r_j, last_j = last_per_row(rows[judged], self.m)
        self.time_to_limit_s[r_j] = ttl[judged][last_j]
        c = np.flatnonzero(new != old)
        if len(c) == 0:
            return TableResult.empty()
        rc = rows[c]
        forecast = np.where(np.isfinite(ttl[c]), ttl[c], np.nan)
        return result(
            rc, old[c], new[c], seg.ts[c], level[c], self.limit[rc], upward[c], time_to_limit_s=forecast
        )


class FailureForecastTable(_SlotTable):
    """Inverse-velocity forecast of the failure time (Fukuzono 1985; smoothing after Carlà 2017).

    Velocity: the robust slope over the trailing ``velocity_window_s``, judged at every slot
    (``velocity_window_s / velocity_slots``, coarser when needed to keep at most ``max_points``
    velocities in ``window_s``) and dated at the mean time of its samples. The accelerating stretch:
    the trailing run of velocities, within ``window_s``, that are significant (more than ``z``
    standard errors) and of the same sign as the newest, from its slowest point on. A least-squares
    line through 1/velocity against time over that stretch crosses zero at the forecast failure
    time, accepted with at least ``min_samples`` points, R² >= ``min_r2`` and 1/v falling.

    Grade g is reached when the time to failure is at most ``horizons_s[g]``, held up to
    ``1 + hysteresis`` times that. When no velocity is significant (the slope stopped moving) the
    alarm clears; when there is a stretch but the fit is not good enough, the grade is held.
    Events carry ``failure_time``, ``time_to_limit_s`` (= failure_time - ts, at least 0), ``value``
    = time to failure in seconds and ``limit`` = the horizon of the grade.
    """

    def __init__(
        self,
        specs: list[FailureForecastSpec],
        velocity_slots: int = 8,
        max_points: int = 512,
        z: float = 3.0,
        hampel_k: float = 3.0,
        velocity_min_samples: int = 3,
        hysteresis: float = 0.1,
        min_coverage: float = 0.5,
    ) -> None:
        objs = specs
        self.channel, self.rule, spec_of = _rows(objs)
        m = len(self.channel)
        self.m = m
        self.z = z
        self.window_s = _per_row(objs, "window_s", spec_of)
        self.velocity_window_s = _per_row(objs, "velocity_window_s", spec_of)
        self.horizons = _per_row(objs, "horizons_s", spec_of)
        self.band = self.horizons * hysteresis
        self.min_r2 = _per_row(objs, "min_r2", spec_of)
        self.min_samples = _per_row(objs, "min_samples", spec_of)
        slot_s = np.maximum(self.velocity_window_s / velocity_slots, self.window_s / max_points)
        self.v_span = np.maximum(np.round(self.velocity_window_s / slot_s), 2).astype(np.int64)
        self.v_capacity = int(self.v_span.max()) if m else 2
        points = np.ceil(self.window_s / slot_s).astype(np.intp) + 1
        self.h_capacity = int(points.max()) if m else 2
        self.hampel_k = np.full(m, hampel_k)
        self.velocity_min_samples = np.full(m, float(velocity_min_samples))
        self.windows = SlotWindows(self.channel, slot_s, self.v_capacity)
        self.min_span_s = np.asarray(min_coverage * self.v_span * slot_s, dtype=np.float64)
        self.history = Ring(
            m,
            self.h_capacity,
            {"t": (np.float64, np.nan), "u": (np.float64, np.nan), "se": (np.float64, np.inf)},
        )
        self._grade = np.zeros(m, dtype=np.int8)
        self._first = _first_set(self.horizons)
        self.failure_time = np.full(m, np.nan)

    def evaluate(self, block: Block) -> TableResult:
        sw = self.windows
        seg = sw.segment(block)
        if len(seg) == 0:
            return TableResult.empty()
        index = np.arange(len(seg), dtype=np.intp)
        fit = _fit_chunks(
            sw, seg, index, self.v_capacity - 1, self.v_span, self.hampel_k, self.velocity_min_samples,
            self.min_span_s,
        )  # fmt: skip
        sw.commit(seg)
        rows = seg.row
        t_center = seg.ts + fit.t_mean
        items: dict[str, npt.NDArray[np.generic]] = {"t": t_center, "u": fit.slope, "se": fit.se}
        tf = np.empty(len(seg))
        moving = np.empty(len(seg), dtype=bool)
        for lo in range(0, len(seg), CHUNK):
            idx = index[lo : lo + CHUNK]
            tf[idx], moving[idx] = self._forecast(seg, idx, items)
        self.history.append(rows, seg.rank, seg.per_row, items)

        with np.errstate(invalid="ignore"):
            ttl = np.where(moving, np.maximum(tf - seg.ts, 0.0), np.inf)
        start = group_starts(rows)
        new = latch_grades(ttl, self.horizons[rows], self.band[rows], start, self._grade[rows], upward=False)
        old = previous_in_row(new, start, self._grade[rows])
        last_rows, last = last_per_row(rows, self.m)
        self._grade[last_rows] = new[last]
        self.failure_time[last_rows] = np.where(moving[last], tf[last], np.nan)
        c = np.flatnonzero(new != old)
        if len(c) == 0:
            return TableResult.empty()
        rc, nc = rows[c], new[c]
        grade_i = np.where(nc > 0, nc.astype(np.intp) - 1, self._first[rc])
        t_c = np.where(np.isfinite(ttl[c]), ttl[c], np.nan)
        f_c = np.where(np.isfinite(ttl[c]), tf[c], np.nan)
        return result(
            rc, old[c], nc, seg.ts[c], t_c, _pick(self.horizons[rc], grade_i),
            np.zeros(len(c), dtype=bool), time_to_limit_s=t_c, failure_time=f_c,
        )  # fmt: skip

    def _forecast(
        self, seg: Segments, idx: IDX, items: dict[str, npt.NDArray[np.generic]]
    ) -> tuple[F64, npt.NDArray[np.bool_]]:
        """Failure time (NaN: no acceptable fit) and whether an accelerating stretch exists."""
        rows = seg.row[idx]
        older, valid = self.history.previous(rows, seg.rank[idx], idx, items, self.h_capacity - 1)
        t = np.concatenate([np.asarray(items["t"])[idx][:, None], older["t"]], axis=1)
        u = np.concatenate([np.asarray(items["u"])[idx][:, None], older["u"]], axis=1)
        se = np.concatenate([np.asarray(items["se"])[idx][:, None], older["se"]], axis=1)
        valid = np.concatenate([np.ones((len(idx), 1), dtype=bool), valid], axis=1)
        t0 = t[:, :1]
        with np.errstate(invalid="ignore"):
            sign = np.sign(u[:, :1])
            speed = sign * u
            valid &= t >= t0 - self.window_s[rows][:, None]
            significant = valid & (speed > self.z * se) & np.isfinite(speed)
        run = np.cumprod(significant, axis=1).astype(bool)
        moving = run[:, 0]
        # The stretch starts at the slowest velocity of the run (the onset of acceleration).
        onset = np.argmin(np.where(run, speed, np.inf), axis=1)
        stretch = run & (np.arange(run.shape[1])[None, :] <= onset[:, None])
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # degenerate speeds: no forecast
            y = np.where(stretch, 1.0 / np.where(stretch, speed, 1.0), 0.0)
            x = np.where(stretch, t - t0, 0.0)
            n = stretch.sum(axis=1).astype(np.float64)
            safe_n = np.maximum(n, 1.0)
            xm = x.sum(axis=1) / safe_n
            ym = y.sum(axis=1) / safe_n
            dx = np.where(stretch, x - xm[:, None], 0.0)
            dy = np.where(stretch, y - ym[:, None], 0.0)
            cxx = (dx * dx).sum(axis=1)
            cxy = (dx * dy).sum(axis=1)
            cyy = (dy * dy).sum(axis=1)
            slope = cxy / cxx
            r2 = cxy * cxy / (cxx * cyy)
            ok = moving & (n >= self.min_samples[rows]) & (cxx > 0) & (slope < 0) & (r2 >= self.min_r2[rows])
            tf = t0[:, 0] + xm - ym / slope
        return np.where(ok, tf, np.nan), moving
