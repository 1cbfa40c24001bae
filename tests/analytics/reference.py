"""A plain-Python reference for the analytics core, one channel and one reading at a time.

Written from the stated semantics, not from the vectorised code, so the engine can be checked against
it: per (rule, channel) binding and per direction, grade g is on when the value reaches its limit
(>= upper, <= lower) or when it was on before and the value is still within the hysteresis band of
that limit; the binding's grade is the larger of the two directions; a transition is reported when
that grade changes. Also home to the random site and stream generators the tests share.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from analytics import Engine, ThresholdSpec, Transitions

NAN = math.nan
BAD = 0x10
BAD_VALUE = 0x20
BAD_RANGE = 0x40

# ts, binding, old grade, new grade, value, limit, upward
Row = tuple[float, int, int, int, float, float, bool]


@dataclass(frozen=True, slots=True)
class RefBinding:
    channel: int
    upper: tuple[float, float, float]
    lower: tuple[float, float, float]
    hysteresis: float


def direction_grade(
    value: float, limits: tuple[float, float, float], old: int, h: float, upward: bool
) -> int:
    """The grade of one direction after ``value``, given the grade ``old`` it had before."""
    for g in (3, 2, 1):
        limit = limits[g - 1]
        if math.isnan(limit):
            continue
        if upward:
            reached, held = value >= limit, value >= limit - h
        else:
            reached, held = value <= limit, value <= limit + h
        if reached or (old >= g and held):
            return g
    return 0


def _floats(limits: tuple[float, float, float]) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in limits)
    return (a, b, c)


def lowest_set(limits: tuple[float, float, float]) -> float:
    for limit in limits:
        if not math.isnan(limit):
            return limit
    return NAN


@dataclass(slots=True)
class ReferenceEngine:
    range_low: list[float]
    range_high: list[float]
    bindings: list[RefBinding]
    last_ts: list[float] = field(init=False)
    up: list[int] = field(init=False)
    down: list[int] = field(init=False)
    rejected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.last_ts = [-math.inf] * len(self.range_low)
        self.up = [0] * len(self.bindings)
        self.down = [0] * len(self.bindings)

    @classmethod
    def from_specs(
        cls,
        range_low: npt.NDArray[np.float64],
        range_high: npt.NDArray[np.float64],
        specs: list[ThresholdSpec],
    ) -> ReferenceEngine:
        bindings = [
            RefBinding(int(c), _floats(s.upper), _floats(s.lower), float(s.hysteresis))
            for s in specs
            for c in s.channels
        ]
        return cls(list(map(float, range_low)), list(map(float, range_high)), bindings)

    def grade(self, binding: int) -> int:
        return max(self.up[binding], self.down[binding])

    def channel_grades(self) -> list[int]:
        grades = [0] * len(self.range_low)
        for b, rule in enumerate(self.bindings):
            grades[rule.channel] = max(grades[rule.channel], self.grade(b))
        return grades

    def process(
        self, readings: list[tuple[float, int, float, int]]
    ) -> tuple[list[bool], list[int], list[Row]]:
        """One batch of (ts, channel, value, quality); returns accepted, quality and transitions."""
        n = len(self.range_low)
        accepted = [False] * len(readings)
        quality = [q for _, _, _, q in readings]
        known = []
        for i, (ts, ch, _, _) in enumerate(readings):
            if 0 <= ch < n and math.isfinite(ts):
                known.append(i)
            else:
                self.rejected["unknown_channel_or_time"] += 1
        # A batch may hold a channel's readings in any order: take them by time, ties in arrival order.
        known.sort(key=lambda i: (readings[i][1], readings[i][0], i))
        rows: list[Row] = []
        for i in known:
            ts, ch, value, _ = readings[i]
            if not math.isfinite(value):
                quality[i] |= BAD_VALUE
                self.rejected["non_finite"] += 1
            elif value < self.range_low[ch] or value > self.range_high[ch]:
                quality[i] |= BAD_RANGE
                self.rejected["out_of_range"] += 1
            if ts < self.last_ts[ch]:
                self.rejected["out_of_order"] += 1
                continue
            if ts == self.last_ts[ch]:
                self.rejected["duplicate_time"] += 1
                continue
            self.last_ts[ch] = ts
            accepted[i] = True
            if quality[i] < BAD:
                rows += self._judge(ts, ch, value)
        rows.sort(key=lambda r: (r[0], r[1]))
        return accepted, quality, rows

    def _judge(self, ts: float, ch: int, value: float) -> list[Row]:
        rows: list[Row] = []
        for b, rule in enumerate(self.bindings):
            if rule.channel != ch:
                continue
            old_up, old_down = self.up[b], self.down[b]
            new_up = direction_grade(value, rule.upper, old_up, rule.hysteresis, upward=True)
            new_down = direction_grade(value, rule.lower, old_down, rule.hysteresis, upward=False)
            self.up[b], self.down[b] = new_up, new_down
            old, new = max(old_up, old_down), max(new_up, new_down)
            if old == new:
                continue
            if new > 0:
                upward = new_up >= new_down
                limit = (rule.upper if upward else rule.lower)[new - 1]
            else:
                # Cleared: name the lowest limit of the direction that was raised.
                upward = old_up >= old_down
                limit = lowest_set(rule.upper if upward else rule.lower)
            rows.append((ts, b, old, new, value, limit, upward))
        return rows


def rows_from(*columns: npt.NDArray[Any]) -> list[tuple[Any, ...]]:
    """Equal-length columns as a list of rows of Python values."""
    return list(zip(*(c.tolist() for c in columns), strict=True))


def rows_of(t: Transitions) -> list[Row]:
    return rows_from(t.ts, t.binding, t.old_grade, t.new_grade, t.value, t.limit, t.upward)


def by_time_then_binding(rows: list[Row]) -> list[Row]:
    """(ts, binding) is unique per transition, so this order is total."""
    return sorted(rows, key=lambda r: (r[0], r[1]))


# --- random sites and streams -----------------------------------------------------------------


@dataclass(slots=True)
class Site:
    range_low: npt.NDArray[np.float64]
    range_high: npt.NDArray[np.float64]
    specs: list[ThresholdSpec]

    def engine(self) -> Engine:
        return Engine(self.range_low.copy(), self.range_high.copy(), self.specs)

    def reference(self) -> ReferenceEngine:
        return ReferenceEngine.from_specs(self.range_low, self.range_high, self.specs)


@dataclass(slots=True)
class Stream:
    ts: npt.NDArray[np.float64]
    channel: npt.NDArray[np.int32]
    value: npt.NDArray[np.float64]
    quality: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, idx: npt.NDArray[np.intp]) -> Stream:
        return Stream(self.ts[idx], self.channel[idx], self.value[idx], self.quality[idx])

    def readings(self) -> list[tuple[float, int, float, int]]:
        return rows_from(self.ts, self.channel, self.value, self.quality)


def _limits(rng: np.random.Generator, sign: float) -> tuple[float, float, float]:
    """Increasing (upper) or decreasing (lower) limits on a 0.25 grid, some left unset."""
    start = rng.integers(4, 17) * 0.25
    gaps = rng.integers(1, 9, size=2) * 0.25
    values = [start, start + gaps[0], start + gaps[0] + gaps[1]]
    keep = rng.random(3) < 0.75
    a, b, c = (sign * v if k else NAN for v, k in zip(values, keep, strict=True))
    return (float(a), float(b), float(c))


def random_site(rng: np.random.Generator, n_channels: int, n_rules: int) -> Site:
    bounded = rng.random(n_channels) < 0.6
    low = np.where(bounded, -10.0, -np.inf)
    high = np.where(bounded, 10.0, np.inf)
    specs = []
    for rule in range(n_rules):
        k = int(rng.integers(1, n_channels + 1))
        channels = np.sort(rng.choice(n_channels, size=k, replace=False)).astype(np.int32)
        kind = rng.integers(0, 3)  # upper only, lower only, both
        upper = _limits(rng, 1.0) if kind != 1 else (NAN, NAN, NAN)
        lower = _limits(rng, -1.0) if kind != 0 else (NAN, NAN, NAN)
        h = float(rng.choice([0.0, 0.25, 0.5, 1.0, 2.5]))
        specs.append(ThresholdSpec(rule, channels, upper, lower, h))
    return Site(low, high, specs)


def random_stream(rng: np.random.Generator, n_channels: int, per_channel: int, *, dirty: bool) -> Stream:
    """Random walks on a 0.25 grid (so values land exactly on limits and band edges), time-sorted.

    Channels share time stamps often. ``dirty`` mixes in NaN, inf, bad-quality and out-of-range
    values, exact re-deliveries of readings, and readings for unknown channels or times.
    """
    ts_parts, ch_parts, val_parts = [], [], []
    for column in range(n_channels):
        ts_parts.append(np.cumsum(rng.integers(1, 4, size=per_channel)).astype(np.float64))
        steps = rng.integers(-4, 5, size=per_channel) * 0.25
        val_parts.append(np.clip(np.cumsum(steps), -12.0, 12.0))
        ch_parts.append(np.full(per_channel, column, dtype=np.int32))
    ts = np.concatenate(ts_parts)
    ch = np.concatenate(ch_parts)
    value = np.concatenate(val_parts)
    quality = np.zeros(len(ts), dtype=np.uint8)
    if dirty:
        u = rng.random(len(ts))
        value[u < 0.03] = np.nan
        value[(u >= 0.03) & (u < 0.04)] = np.inf
        value[(u >= 0.04) & (u < 0.045)] = -np.inf
        quality[(u >= 0.05) & (u < 0.08)] = 0x10  # BAD_COMM: value present but not to be judged
        quality[(u >= 0.08) & (u < 0.12)] = 0x01  # TIME_ESTIMATED: still usable
        spikes = (u >= 0.12) & (u < 0.15)
        value[spikes] = rng.choice([-30.0, -10.25, 10.25, 30.0], size=int(spikes.sum()))
        edges = (u >= 0.15) & (u < 0.17)
        value[edges] = rng.choice([-10.0, 10.0], size=int(edges.sum()))  # exactly on the range: in range
        redelivered = np.flatnonzero(rng.random(len(ts)) < 0.04)
        idx = np.sort(np.concatenate([np.arange(len(ts)), redelivered]), kind="stable")
        ts, ch, value, quality = ts[idx], ch[idx], value[idx], quality[idx]
        n_bad = max(1, len(ts) // 50)
        pos = rng.integers(0, len(ts), size=n_bad)
        ch[pos[: n_bad // 2]] = rng.choice([-1, n_channels, n_channels + 7], size=n_bad // 2)
        ts[pos[n_bad // 2 :]] = rng.choice([np.nan, np.inf, -np.inf], size=n_bad - n_bad // 2)
    order = np.argsort(np.nan_to_num(ts, nan=0.0, posinf=0.0, neginf=0.0), kind="stable")
    return Stream(ts[order], ch[order], value[order], quality[order])


def random_cuts(rng: np.random.Generator, n: int, max_batch: int) -> list[tuple[int, int]]:
    cuts, start = [], 0
    while start < n:
        stop = min(n, start + int(rng.integers(1, max_batch + 1)))
        cuts.append((start, stop))
        start = stop
    return cuts


@dataclass(slots=True)
class Fed:
    rows: list[Row]
    accepted: npt.NDArray[np.bool_]
    quality: npt.NDArray[np.uint8]
    rejected: Counter[str]


def feed(engine: Engine, stream: Stream, cuts: list[tuple[int, int]], rng: np.random.Generator | None) -> Fed:
    """Feed ``stream`` in the given contiguous batches, each shuffled when ``rng`` is given."""
    rows: list[Row] = []
    accepted = np.zeros(len(stream), dtype=bool)
    quality = stream.quality.copy()
    rejected: Counter[str] = Counter()
    for start, stop in cuts:
        idx = np.arange(start, stop)
        if rng is not None:
            idx = rng.permutation(idx)
        part = stream.take(idx)
        result = engine.process(part.ts, part.channel, part.value, part.quality)
        batch_rows = rows_of(result.transitions)
        assert batch_rows == by_time_then_binding(batch_rows), "a batch's transitions are not in time order"
        rows += batch_rows
        accepted[idx] = result.accepted
        quality[idx] = result.quality
        rejected.update(result.rejected)
    return Fed(rows, accepted, quality, rejected)


def feed_reference(ref: ReferenceEngine, stream: Stream) -> Fed:
    """The reference takes the readings one at a time, in stream order."""
    rows: list[Row] = []
    accepted, quality = [], []
    for reading in stream.readings():
        a, q, r = ref.process([reading])
        accepted += a
        quality += q
        rows += r
    return Fed(
        by_time_then_binding(rows),
        np.array(accepted, dtype=bool),
        np.array(quality, dtype=np.uint8),
        +ref.rejected,
    )
