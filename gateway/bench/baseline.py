"""The plain baseline the benchmark compares against: one Python object per channel, one reading at a
time, the same rules as the core (graded thresholds with hysteresis, a trailing-window least-squares
rate with graded limits, silent and stuck checks).

Written the way one would without the vectorised core: straightforward and reasonably careful
(running sums for the regression, a deque for the window), not deliberately slow.
"""

from __future__ import annotations

import csv
import math
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from gateway.bench.data import BenchRules

Transition = tuple[float, int, str, int, int, float]  # ts, channel, rule, old, new, value


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


class BaselineChannel:
    """Every rule of one channel, fed one reading at a time."""

    __slots__ = (
        "_sum_t",
        "_sum_tt",
        "_sum_tv",
        "_sum_v",
        "grade_lower",
        "grade_rate",
        "grade_upper",
        "id",
        "last_good",
        "rules",
        "silent",
        "stuck",
        "stuck_count",
        "stuck_high",
        "stuck_low",
        "stuck_start",
        "t_ref",
        "window",
    )

    def __init__(self, channel: int, rules: BenchRules) -> None:
        self.id = channel
        self.rules = rules
        self.grade_upper = 0
        self.grade_lower = 0
        self.grade_rate = 0
        self.window: deque[tuple[float, float]] = deque()
        self.t_ref = math.nan
        self._sum_t = self._sum_tt = self._sum_v = self._sum_tv = 0.0
        self.last_good = math.nan
        self.silent = False
        self.stuck = False
        self.stuck_start = math.nan
        self.stuck_low = math.inf
        self.stuck_high = -math.inf
        self.stuck_count = 0

    def update(self, ts: float, value: float, out: list[Transition]) -> None:
        if not math.isfinite(value):
            return
        r = self.rules
        lower = (math.nan, math.nan, r.lower_red)
        new = _grade(value, r.upper, self.grade_upper, r.hysteresis, True)
        if new != self.grade_upper:
            out.append((ts, self.id, "disp", self.grade_upper, new, value))
            self.grade_upper = new
        new = _grade(value, lower, self.grade_lower, r.hysteresis, False)
        if new != self.grade_lower:
            out.append((ts, self.id, "disp", self.grade_lower, new, value))
            self.grade_lower = new
        if r.rate:
            self._rate(ts, value, out)
        if r.quality:
            self._quality(ts, value, out)

    def _rate(self, ts: float, value: float, out: list[Transition]) -> None:
        r = self.rules
        if math.isnan(self.t_ref):
            self.t_ref = ts
        t = ts - self.t_ref
        self.window.append((t, value))
        self._sum_t += t
        self._sum_tt += t * t
        self._sum_v += value
        self._sum_tv += t * value
        while self.window and self.window[0][0] < t - r.rate_window_s:
            t0, v0 = self.window.popleft()
            self._sum_t -= t0
            self._sum_tt -= t0 * t0
            self._sum_v -= v0
            self._sum_tv -= t0 * v0
        n = len(self.window)
        if n < r.rate_min_samples:
            return
        denominator = n * self._sum_tt - self._sum_t * self._sum_t
        if denominator <= 0:
            return
        slope = (n * self._sum_tv - self._sum_t * self._sum_v) / denominator * r.rate_per_s
        new = _grade(slope, r.rate_upper, self.grade_rate, 0.0, True)
        if new != self.grade_rate:
            out.append((ts, self.id, "disp_rate", self.grade_rate, new, slope))
            self.grade_rate = new

    def _quality(self, ts: float, value: float, out: list[Transition]) -> None:
        r = self.rules
        if self.silent:
            out.append((ts, self.id, "silent", 1, 0, value))
            self.silent = False
        self.last_good = ts
        if value < self.stuck_low:
            self.stuck_low = value
        if value > self.stuck_high:
            self.stuck_high = value
        if self.stuck_high - self.stuck_low > 0.0:  # the reading broke the band: a new run starts
            if self.stuck:
                out.append((ts, self.id, "stuck", 1, 0, value))
                self.stuck = False
            self.stuck_start, self.stuck_low, self.stuck_high, self.stuck_count = ts, value, value, 0
        self.stuck_count += 1
        if (
            not self.stuck
            and self.stuck_count >= r.stuck_min_samples
            and ts - self.stuck_start >= r.stuck_window_s
        ):
            out.append((ts, self.id, "stuck", 0, 1, value))
            self.stuck = True

    def tick(self, now: float, out: list[Transition]) -> None:
        if not self.rules.quality:
            return
        if math.isnan(self.last_good):
            self.last_good = now
        if not self.silent and now - self.last_good > self.rules.silent_s:
            out.append((self.last_good + self.rules.silent_s, self.id, "silent", 0, 1, math.nan))
            self.silent = True


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
