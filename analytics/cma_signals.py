"""The CMA gale and rainstorm signals "already observed and continuing", from the site's own data.

Levels (中国气象局令第16号, DOMAIN.md), as colour ranks 1 blue … 4 red:

- gale: mean wind of level 6 or gust of 7 → blue; 8 / 9 yellow; 10 / 11 orange; 12 / 13 red. The
  mean is the 2-min or 10-min sample mean; the gust the largest 3-s mean of the last 10 minutes
  (the GB/T 28591 definitions, as ``analytics.wind`` computes them); levels by ``wind_level``.
- rainstorm: 50 mm in 12 h blue, 50 mm in 6 h yellow, 50 mm in 3 h orange, 100 mm in 3 h red.

"Continuing" is a hold: a colour is issued once the data have met it for ``confirm_s`` without a
break, and lowered (or ended) once they have stayed below the issued colour for ``end_after_s``.
Everything runs on data time, one reading at a time, in amortised constant time per reading
(running sums and a monotonic queue for the gust), so a week of 1-s readings costs little.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from analytics.wind import WINDOW_3S, WINDOW_10MIN, wind_level

GALE_MEAN_LEVELS = (6, 8, 10, 12)  # blue, yellow, orange, red
GALE_GUST_LEVELS = (7, 9, 11, 13)
RAIN_WINDOWS_S = (12 * 3600.0, 6 * 3600.0, 3 * 3600.0, 3 * 3600.0)  # blue, yellow, orange, red
RAIN_AMOUNTS_MM = (50.0, 50.0, 50.0, 100.0)


def gale_rank(mean_level: float, gust_level: float) -> int:
    rank = 0
    for r, (mean, gust) in enumerate(zip(GALE_MEAN_LEVELS, GALE_GUST_LEVELS, strict=True), start=1):
        if mean_level >= mean or gust_level >= gust:
            rank = r
    return rank


def rain_rank(mm_3h: float, mm_6h: float, mm_12h: float) -> int:
    by_window = {3 * 3600.0: mm_3h, 6 * 3600.0: mm_6h, 12 * 3600.0: mm_12h}
    rank = 0
    for r, (window, amount) in enumerate(zip(RAIN_WINDOWS_S, RAIN_AMOUNTS_MM, strict=True), start=1):
        if by_window[window] >= amount:
            rank = r
    return rank


class SignalHold:
    """The issued colour from the colour the data meet now: raised after ``confirm_s`` of it, lowered
    after ``end_after_s`` below the issued one."""

    def __init__(self, confirm_s: float, end_after_s: float) -> None:
        self.confirm_s = confirm_s
        self.end_after_s = end_after_s
        self.issued = 0
        self._met_since: list[float | None] = [None] * 5  # per rank 1..4: since when met without a break
        self._below_since: float | None = None

    def update(self, ts: float, met: int) -> int:
        for rank in range(1, 5):
            if met >= rank:
                if self._met_since[rank] is None:
                    self._met_since[rank] = ts
            else:
                self._met_since[rank] = None
        confirmed = max(
            (r for r in range(1, 5) if (s := self._met_since[r]) is not None and ts - s >= self.confirm_s),
            default=0,
        )
        if confirmed > self.issued:
            self.issued, self._below_since = confirmed, None
        elif met < self.issued:
            if self._below_since is None:
                self._below_since = ts
            if ts - self._below_since >= self.end_after_s:
                self.issued, self._below_since = confirmed, None
        else:
            self._below_since = None
        return self.issued


class _RunningWindow:
    """Sum and count of (ts, value) over (t - window, t]."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._items: deque[tuple[float, float]] = deque()
        self.total = 0.0

    def add(self, ts: float, value: float) -> None:
        self._items.append((ts, value))
        self.total += value
        while self._items and self._items[0][0] <= ts - self.window_s:
            self.total -= self._items.popleft()[1]

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True, slots=True)
class GaleReading:
    mean: float  # m/s
    gust: float  # m/s
    mean_level: int
    gust_level: int
    rank: int  # colour the data meet now


class GaleWindow:
    """One anemometer: mean over ``mean_s``, gust = max 3-s mean over 10 min, and the colour met."""

    def __init__(self, mean_s: float) -> None:
        self._mean = _RunningWindow(mean_s)
        self._three = _RunningWindow(WINDOW_3S)
        self._gusts: deque[tuple[float, float]] = deque()  # decreasing 3-s means: the window's max first

    def add(self, ts: float, speed: float) -> GaleReading:
        self._mean.add(ts, speed)
        self._three.add(ts, speed)
        three = self._three.total / len(self._three)
        while self._gusts and self._gusts[-1][1] <= three:
            self._gusts.pop()
        self._gusts.append((ts, three))
        while self._gusts[0][0] <= ts - WINDOW_10MIN:
            self._gusts.popleft()
        mean = self._mean.total / len(self._mean)
        gust = self._gusts[0][1]
        mean_level, gust_level = int(wind_level(mean)), int(wind_level(gust))
        return GaleReading(mean, gust, mean_level, gust_level, gale_rank(mean_level, gust_level))


@dataclass(frozen=True, slots=True)
class RainReading:
    mm_3h: float
    mm_6h: float
    mm_12h: float
    rank: int


class RainWindow:
    """Rain over 3, 6 and 12 h from increments (mm since the last reading) or a running total."""

    def __init__(self, accumulated: bool, mm_per_unit: float = 1.0) -> None:
        self.accumulated = accumulated
        self.mm_per_unit = mm_per_unit
        self._last_total: float | None = None
        self._windows = {w: _RunningWindow(w) for w in (3 * 3600.0, 6 * 3600.0, 12 * 3600.0)}

    def add(self, ts: float, value: float) -> RainReading:
        if self.accumulated:
            last, self._last_total = self._last_total, value
            # The first total only sets the base; a total that fell was reset (at midnight, by hand).
            step = 0.0 if last is None else (value - last if value >= last else value)
        else:
            step = value
        mm = max(step, 0.0) * self.mm_per_unit
        for window in self._windows.values():
            window.add(ts, mm)
        w3, w6, w12 = (self._windows[w].total for w in (3 * 3600.0, 6 * 3600.0, 12 * 3600.0))
        # Running sums can leave -1e-13 where the rain was exactly zero.
        w3, w6, w12 = (max(0.0, round(x, 9)) for x in (w3, w6, w12))
        return RainReading(w3, w6, w12, rain_rank(w3, w6, w12))


def usable(value: float) -> bool:
    return math.isfinite(value) and value >= 0
