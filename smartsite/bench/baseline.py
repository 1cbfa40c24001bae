"""The plain baseline the benchmark compares against: one Python object per channel, one reading at a
time, the same rules as the core with the same parameters (``BenchRules``, which ``bench_site``
also writes into the core's config):

- readings not newer than the channel's last one are dropped, as the core drops them;
- out of range: a reading outside the physical range raises the ``out_of_range`` check and is not
  used further; the next in-range reading clears it;
- spike screen: a causal Hampel filter over the channel's last ``spike_window`` readings (the
  held ones included, as in the core); a reading further than max(spike_k·scale, spike_min_jump)
  from their median, scale = max(1.4826·MAD, 0.1 % of the range, 1.2533·long-run mean absolute
  deviation), is held: the next reading on the same side confirms a step (it is used), any other
  makes the held one a spike, which raises the ``spike`` check then (cleared after
  ``spike_window`` clean readings); a held reading feeds neither the thresholds nor the rate nor
  stuck;
- graded thresholds with hysteresis on the value;
- robust rate, the textbook way, at every reading: the raw readings of the trailing window, their
  median and MAD, Hampel (readings further than hampel_k·1.4826·MAD from the median are dropped;
  with a MAD of 0 the mean absolute deviation ×1.2533 stands in, as in the core), least squares on
  the inliers; judged when at least ``min_samples`` inliers span ``min_coverage`` of the window;
  graded with the same limits;
- silent (any reading with a number is heard) and stuck checks;
- every rule's grade held ``min_hold_s`` after it was last reached before it may fall (the time
  passes with each reading of the channel, or with a tick ``TICK_GRACE_S`` later).

The core does the same rules over slots (``window_s / slots`` seconds, slot means for the Hampel
step) and judges the rate once per slot; the baseline keeps every reading and judges at every one.

Written the way one would without the vectorised core: straightforward and reasonably careful (a
deque for the window, a sorted list beside it for median and MAD, running sums for the regression),
not deliberately slow.
"""

from __future__ import annotations

import csv
import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from analytics.hold import TICK_GRACE_S
from gateway.config.meaning_quality import RANGE_SHARE
from smartsite.bench.data import BenchRules

Transition = tuple[float, int, str, int, int, float]  # ts, channel, rule, old, new, value

MAD_SCALE = 1.4826  # MAD -> standard deviation for normal data
MEAN_AD_SCALE = 1.2533  # mean absolute deviation -> standard deviation for normal data
LONG_RUN_WINDOWS = 4  # the spike screen's long-run deviation spans about this many windows
REBASE_WINDOWS = 4.0  # re-origin the regression sums after this many windows (keeps them exact)
LOWER_NAME = {"disp_lower": "disp"}  # the lower side's changes, held apart, go out as the rule's


def _grade(value: float, limits: tuple[float, ...], old: int, h: float, upward: bool) -> int:
    reached = 0
    held = 0
    for number, limit in enumerate(limits, start=1):
        if math.isnan(limit):
            continue
        if upward:
            if value >= limit:
                reached = number
            if value >= limit - h:
                held = number
        else:
            if value <= limit:
                reached = number
            if value <= limit + h:
                held = number
    return max(reached, min(old, held))


def _kth_deviation(ordered: list[float], centre: float, k: int) -> float:
    """k-th smallest |x - centre| over sorted ``ordered``.

    The k values nearest ``centre`` are a contiguous run ordered[a : a + k]; the best run is where
    its two ends balance, found by bisection.
    """
    lo, hi = 0, len(ordered) - k
    while lo < hi:
        mid = (lo + hi) // 2
        if ordered[mid + k - 1] - centre >= centre - ordered[mid]:
            hi = mid
        else:
            lo = mid + 1
    best = max(centre - ordered[lo], ordered[lo + k - 1] - centre)
    if lo > 0:
        best = min(best, max(centre - ordered[lo - 1], ordered[lo + k - 2] - centre))
    return best


def median_mad(ordered: list[float]) -> tuple[float, float]:
    """Median and MAD (median absolute deviation from the median) of sorted, non-empty values."""
    n = len(ordered)
    h = n // 2
    if n % 2:
        med = ordered[h]
        return med, _kth_deviation(ordered, med, h + 1)
    med = 0.5 * (ordered[h - 1] + ordered[h])
    return med, 0.5 * (_kth_deviation(ordered, med, h) + _kth_deviation(ordered, med, h + 1))


class Held:
    """Minimum dwell of one rule's grade on one channel: each level, once the rule falls below it,
    stays on until ``hold`` seconds later, unless the rule reaches it again by then."""

    __slots__ = ("fell_at", "grade", "raw", "rule", "value")

    def __init__(self, rule: str) -> None:
        self.rule = rule  # the name its changes go out with
        self.grade = 0  # as the alarm shows it
        self.raw = 0  # as the rule gives it
        self.fell_at = [math.nan, math.nan, math.nan]  # per level 1..3
        self.value = math.nan

    def change(self, t: Transition, hold: float, out: list[Transition]) -> None:
        ts, channel, _, old, new, value = t
        rule = self.rule
        self.release(ts, hold, channel, out, strictly_before=True)
        self.raw, self.value = new, value
        if new > old:
            for level in range(old + 1, new + 1):
                self.fell_at[level - 1] = math.nan
            if new > self.grade:
                out.append((ts, channel, rule, self.grade, new, value))
                self.grade = new
        else:
            for level in range(new + 1, old + 1):
                self.fell_at[level - 1] = ts

    def release(
        self, now: float, hold: float, channel: int, out: list[Transition], strictly_before: bool
    ) -> None:
        """Let the levels whose hold ended by ``now`` fall, one change per end time."""
        while True:
            ends = [f + hold for f in self.fell_at if not math.isnan(f)]
            due = [e for e in ends if (e < now if strictly_before else e <= now)]
            if not due:
                return
            end = min(due)
            for level in range(3):
                if not math.isnan(self.fell_at[level]) and self.fell_at[level] + hold <= end:
                    self.fell_at[level] = math.nan
            pending = [level + 1 for level in range(3) if not math.isnan(self.fell_at[level])]
            new = max([self.raw, *pending])
            if new != self.grade:
                out.append((end, channel, self.rule, self.grade, new, self.value))
                self.grade = new


class BaselineChannel:
    """Every rule of one channel, fed one reading at a time."""

    __slots__ = (
        "_sum_t",
        "_sum_tt",
        "_sum_tv",
        "_sum_v",
        "_sum_vv",
        "_t_ref",
        "_v_ref",
        "grade_lower",
        "grade_rate",
        "grade_upper",
        "held",
        "id",
        "last_good",
        "last_ts",
        "ordered",
        "out_of_range",
        "rules",
        "silent",
        "spike",
        "spike_clean",
        "spike_history",
        "spike_state",
        "stuck",
        "stuck_count",
        "stuck_high",
        "stuck_low",
        "stuck_start",
        "window",
    )

    def __init__(self, channel: int, rules: BenchRules) -> None:
        self.id = channel
        self.rules = rules
        self.last_ts = -math.inf
        self.grade_upper = 0
        self.grade_lower = 0
        self.grade_rate = 0
        # Rate: the window's readings in time order, their values sorted, regression sums.
        self.window: deque[tuple[float, float]] = deque()
        self.ordered: list[float] = []
        self._t_ref = math.nan
        self._v_ref = 0.0
        self._sum_t = self._sum_tt = self._sum_v = self._sum_tv = self._sum_vv = 0.0
        # Quality.
        self.spike_history: deque[float] = deque(maxlen=rules.spike_window)
        self.spike = False
        self.spike_clean = 0
        # Candidate, side, held, held reading's deviation, long-run deviation sums.
        self.spike_state: list[float] = [0.0, 0.0, 0.0, math.nan, 0.0, 0.0]
        self.out_of_range = False
        self.last_good = math.nan
        self.silent = False
        self.stuck = False
        self.stuck_start = math.nan
        self.stuck_low = math.inf
        self.stuck_high = -math.inf
        self.stuck_count = 0
        # Minimum dwell per rule; the core holds the two sides of "disp" as one grade, which is the
        # same here as they never hold at once (the lower limit is far below the upper ones).
        self.held: dict[str, Held] = {}

    def update(self, ts: float, value: float, out: list[Transition]) -> None:
        if ts <= self.last_ts:  # stale or duplicate time: rejected before any rule
            return
        self.last_ts = ts
        raw: list[Transition] = []
        self._judge(ts, value, raw)
        self._hold(ts, raw, out)

    def _hold(self, now: float, raw: list[Transition], out: list[Transition]) -> None:
        hold = self.rules.min_hold_s
        for t in raw:
            held = self.held.get(t[2])
            if held is None:
                held = self.held[t[2]] = Held(LOWER_NAME.get(t[2], t[2]))
            held.change(t, hold, out)
        for held in self.held.values():
            held.release(now, hold, self.id, out, strictly_before=False)

    def _judge(self, ts: float, value: float, out: list[Transition]) -> None:
        r = self.rules
        if r.quality and math.isnan(self.last_good):
            self.last_good = ts  # silence is counted from the first reading of any kind
        if not math.isfinite(value):
            return
        if r.quality:
            self._heard(ts, value, out)
        if value < r.range_low or value > r.range_high:
            if r.quality and not self.out_of_range:
                out.append((ts, self.id, "out_of_range", 0, 1, value))
                self.out_of_range = True
            return
        if r.quality:
            if self.out_of_range:
                out.append((ts, self.id, "out_of_range", 1, 0, value))
                self.out_of_range = False
            if self._is_spike(ts, value, out):
                return
        new = _grade(value, r.upper, self.grade_upper, r.hysteresis, True)
        if new != self.grade_upper:
            out.append((ts, self.id, "disp", self.grade_upper, new, value))
            self.grade_upper = new
        lower = (math.nan, math.nan, r.lower_red)
        new = _grade(value, lower, self.grade_lower, r.hysteresis, False)
        if new != self.grade_lower:
            out.append((ts, self.id, "disp_lower", self.grade_lower, new, value))
            self.grade_lower = new
        if r.rate:
            self._rate(ts, value, out)
        if r.quality:
            self._quality(ts, value, out)

    def _is_spike(self, ts: float, value: float, out: list[Transition]) -> bool:
        """Hampel over the last ``spike_window`` readings; holds a candidate until the next reading
        decides it; raises and clears the spike check. True: the reading is held."""
        r = self.rules
        history = self.spike_history
        cand_before, side_before, held_before, _, ew_dev, ew_weight = self.spike_state
        cand, side, clipped, judged = False, 0.0, 0.0, len(history) == r.spike_window
        if judged:
            med, mad = median_mad(sorted(history))
            deviation = abs(value - med)
            base = max(MAD_SCALE * mad, RANGE_SHARE * (r.range_high - r.range_low))
            long_run = MEAN_AD_SCALE * ew_dev / ew_weight if ew_weight > 0 else 0.0
            cand = deviation > max(r.spike_k * max(base, long_run), r.spike_min_jump)
            side = math.copysign(1.0, value - med) if cand else 0.0
            clipped = min(deviation, r.spike_k * base)
        history.append(value)  # held readings enter the window too
        a = 1.0 / (LONG_RUN_WINDOWS * r.spike_window)
        confirms = cand and bool(cand_before) and side == side_before
        held = cand and not confirms
        self.spike_state = [float(cand), side, float(held), math.nan,
                            (1 - a) * ew_dev + a * clipped, (1 - a) * ew_weight + a * judged]  # fmt: skip
        if held_before and not confirms:  # the held reading before was a spike
            if not self.spike:
                out.append((ts, self.id, "spike", 0, 1, value))
                self.spike = True
            self.spike_clean = 0
        elif not held:
            self.spike_clean += 1
            if self.spike and self.spike_clean >= r.spike_window:
                out.append((ts, self.id, "spike", 1, 0, value))
                self.spike = False
        return held

    def _add(self, ts: float, value: float, sign: float) -> None:
        t = ts - self._t_ref
        v = value - self._v_ref
        self._sum_t += sign * t
        self._sum_tt += sign * t * t
        self._sum_v += sign * v
        self._sum_tv += sign * t * v
        self._sum_vv += sign * v * v

    def _rebase(self) -> None:
        """New origin for the regression sums (the oldest reading); sums recomputed exactly."""
        self._t_ref = self.window[0][0]
        self._v_ref = self.window[-1][1]
        self._sum_t = self._sum_tt = self._sum_v = self._sum_tv = self._sum_vv = 0.0
        for t, v in self.window:
            self._add(t, v, 1.0)

    def _rate(self, ts: float, value: float, out: list[Transition]) -> None:
        r = self.rules
        window = self.window
        ordered = self.ordered
        if math.isnan(self._t_ref):
            self._t_ref, self._v_ref = ts, value
        window.append((ts, value))
        insort(ordered, value)
        self._add(ts, value, 1.0)
        horizon = ts - r.rate_window_s
        while window[0][0] <= horizon:
            t0, v0 = window.popleft()
            del ordered[bisect_left(ordered, v0)]
            self._add(t0, v0, -1.0)
        if ts - self._t_ref > REBASE_WINDOWS * r.rate_window_s:
            self._rebase()
        n = len(window)
        need = max(r.rate_min_samples, 2)
        if n < need:
            return
        # Hampel on the window's values.
        med, mad = median_mad(ordered)
        scale = MAD_SCALE * mad if mad > 0 else MEAN_AD_SCALE * sum(abs(x - med) for x in ordered) / n
        reach = r.rate_hampel_k * scale
        low, high = med - reach, med + reach
        if ordered[0] >= low and ordered[-1] <= high:  # no outlier: the running sums are the fit's
            k, st, stt, sv, stv, svv = (
                float(n), self._sum_t, self._sum_tt, self._sum_v, self._sum_tv, self._sum_vv
            )  # fmt: skip
            first, last = window[0][0], window[-1][0]
        else:  # least squares on the inliers only
            k = st = stt = sv = stv = svv = 0.0
            first, last = math.inf, -math.inf
            t_ref, v_ref = self._t_ref, self._v_ref
            for t_abs, v_abs in window:
                if low <= v_abs <= high:
                    t, v = t_abs - t_ref, v_abs - v_ref
                    k += 1.0
                    st += t
                    stt += t * t
                    sv += v
                    stv += t * v
                    svv += v * v
                    if k == 1.0:
                        first = t_abs
                    last = t_abs
        if k < need or last - first < r.rate_min_coverage * r.rate_window_s:
            return
        cxx = stt - st * st / k
        if cxx <= 0:
            return
        cxv = stv - st * sv / k
        cvv = svv - sv * sv / k
        if cvv <= 1e-12 * svv:  # values equal up to rounding: no trend
            cxv = 0.0
        slope = cxv / cxx * r.rate_per_s
        new = _grade(slope, r.rate_upper, self.grade_rate, 0.0, True)
        if new != self.grade_rate:
            out.append((ts, self.id, "disp_rate", self.grade_rate, new, slope))
            self.grade_rate = new

    def _heard(self, ts: float, value: float, out: list[Transition]) -> None:
        r = self.rules
        if self.silent:
            out.append((ts, self.id, "silent", 1, 0, value))
            self.silent = False
        elif ts - self.last_good > r.silent_s:  # a gap no tick saw: raised then cleared
            out.append((self.last_good + r.silent_s, self.id, "silent", 0, 1, math.nan))
            out.append((ts, self.id, "silent", 1, 0, value))
        self.last_good = ts

    def _quality(self, ts: float, value: float, out: list[Transition]) -> None:
        r = self.rules
        if value < self.stuck_low:
            self.stuck_low = value
        if value > self.stuck_high:
            self.stuck_high = value
        if self.stuck_high - self.stuck_low > 0.0:  # the reading broke the band: a new run starts
            if self.stuck:
                out.append((ts, self.id, "stuck", 1, 0, value))
                self.stuck = False
            self.stuck_low, self.stuck_high, self.stuck_count = value, value, 0
        if self.stuck_count == 0:
            self.stuck_start = ts
        self.stuck_count += 1
        if (
            not self.stuck
            and self.stuck_count >= r.stuck_min_samples
            and ts - self.stuck_start >= r.stuck_window_s
        ):
            out.append((ts, self.id, "stuck", 0, 1, value))
            self.stuck = True

    def tick(self, now: float, out: list[Transition]) -> None:
        raw: list[Transition] = []
        if self.rules.quality:
            if math.isnan(self.last_good):
                self.last_good = now
            if not self.silent and now - self.last_good > self.rules.silent_s:
                raw.append((self.last_good + self.rules.silent_s, self.id, "silent", 0, 1, math.nan))
                self.silent = True
        self._hold(now - TICK_GRACE_S, raw, out)


class BaselineSite:
    """A dict of channel objects, keyed by channel id."""

    def __init__(self, channel_ids: list[str], rules: BenchRules) -> None:
        self.channels = {cid: BaselineChannel(i, rules) for i, cid in enumerate(channel_ids)}
        self.by_column = list(self.channels.values())

    def process(self, readings: Iterable[tuple[float, str, float]]) -> list[Transition]:
        out: list[Transition] = []
        channels = self.channels
        for ts, channel, value in readings:
            target = channels.get(channel)
            if target is not None:
                target.update(ts, value, out)
        return out

    def tick(self, now: float) -> list[Transition]:
        out: list[Transition] = []
        for channel in self.by_column:
            channel.tick(now, out)
        return out


def read_csv_rows(path: Path, limit: int | None = None) -> Iterator[tuple[float, str, float]]:
    """The plain reader: ``csv`` module, ``datetime.fromisoformat``, ``float``, row by row."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = csv.reader(fh)
        header = next(rows, None)
        if header != ["ts", "channel", "value"]:
            raise ValueError(f"{path}: bad header {header}")
        for number, row in enumerate(rows):
            if limit is not None and number >= limit:
                return
            if len(row) != 3:
                continue
            raw_ts, channel, raw_value = row
            try:
                ts = float(raw_ts)
            except ValueError:
                try:
                    ts = datetime.fromisoformat(raw_ts).timestamp()
                except ValueError:
                    continue
            try:
                value = float(raw_value)
            except ValueError:
                continue
            yield ts, channel, value
