"""Graded thresholds (yellow/orange/red) on the value, upper and lower, with hysteresis and debounce.

Also serves cumulative rules: the judged value is then the change since a baseline (the first usable
reading, or a given value), as pits and formwork are judged.

Vectorised over time and channels at once: each grade level of each side is a latch that is *set*
when the value reaches the limit and *reset* when it falls back past the hysteresis band; the grade
is the highest latch that is on. Because the limits are ordered the latches are nested, which makes
this equal to stepping ``new = max(reached, min(old, held))`` reading by reading, but a whole block
of readings is one forward fill along the time axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.table import Block, TableResult, columns, result

GRADES = 3  # yellow, orange, red
_GRADE_NUMBERS = np.arange(1, GRADES + 1, dtype=np.int8)
_NO_LIMITS = (np.nan, np.nan, np.nan)


@dataclass(frozen=True, slots=True)
class ThresholdSpec:
    """One threshold rule bound to some channels. Unset limits are NaN.

    ``debounce_count`` of the last ``debounce_of`` readings must reach a grade before it is entered
    (1 of 1: at once); ``hold_s`` additionally requires the grade to be reached continuously for
    that long. ``baseline`` makes the rule cumulative: NaN per channel = its first usable reading,
    None = judge the raw value.
    """

    rule: int
    channels: npt.NDArray[np.int32]
    upper: tuple[float, float, float] = _NO_LIMITS
    lower: tuple[float, float, float] = _NO_LIMITS
    hysteresis: float = 0.0
    debounce_count: int = 1
    debounce_of: int = 1
    hold_s: float = 0.0
    baseline: npt.NDArray[np.float64] | None = None


def graded(
    value: npt.NDArray[np.float64],
    limits: npt.NDArray[np.float64],
    old_grade: npt.NDArray[np.int8],
    hysteresis: npt.NDArray[np.float64],
    upward: bool,
) -> npt.NDArray[np.int8]:
    """One step for values against (M, 3) limits; NaN limits never trigger.

    For ``upward`` limits a grade is reached when value >= limit and held while
    value >= limit - hysteresis; downward limits mirror that.
    """
    v = value[:, None]
    h = hysteresis[:, None]
    with np.errstate(invalid="ignore"):
        if upward:
            reached = v >= limits
            held = v >= limits - h
        else:
            reached = v <= limits
            held = v <= limits + h
    reached_grade = np.max(np.where(reached, _GRADE_NUMBERS, 0), axis=1).astype(np.int8)
    held_grade = np.max(np.where(held, _GRADE_NUMBERS, 0), axis=1).astype(np.int8)
    return np.maximum(reached_grade, np.minimum(old_grade, held_grade))


def forward_fill_latch(
    set_: npt.NDArray[np.bool_], reset: npt.NDArray[np.bool_], carry: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """(K, ...) latch states: on after a set, off after a reset, else as before (``carry`` at start).

    ``set_`` and ``reset`` never hold at once, so the latch is on where the latest set is later
    than the latest reset; two running maxima of row numbers, no gathering.
    """
    k = set_.shape[0]
    if k == 1:  # streaming: one reading per channel, no running maxima needed
        return np.where(set_, True, np.where(reset, False, carry[None]))
    rows = np.arange(k, dtype=np.int32).reshape((k,) + (1,) * (set_.ndim - 1))
    last_set = np.maximum.accumulate(np.where(set_, rows, -1), axis=0)
    last_reset = np.maximum.accumulate(np.where(reset, rows, -1), axis=0)
    untouched = (last_set < 0) & (last_reset < 0)
    return np.where(untouched, carry[None], last_set > last_reset)


class ThresholdTable:
    """All rows (rule, channel) of some threshold or cumulative rules, judged together."""

    def __init__(self, specs: list[ThresholdSpec]) -> None:
        counts = [len(s.channels) for s in specs]
        m = int(sum(counts))
        self.rule = np.repeat(np.array([s.rule for s in specs], dtype=np.int32), counts)
        self.channel = (
            np.concatenate([s.channels for s in specs]).astype(np.int32)
            if specs
            else np.zeros(0, dtype=np.int32)
        )
        self.upper = np.full((m, GRADES), np.nan)
        self.lower = np.full((m, GRADES), np.nan)
        self.hysteresis = np.zeros(m)
        self.debounce_count = np.ones(m, dtype=np.int64)
        self.debounce_of = np.ones(m, dtype=np.int64)
        self.hold_s = np.zeros(m)
        self.cumulative = np.zeros(m, dtype=bool)
        self.baseline = np.full(m, np.nan)
        row = 0
        for spec, count in zip(specs, counts, strict=True):
            rows = slice(row, row + count)
            self.upper[rows] = spec.upper
            self.lower[rows] = spec.lower
            self.hysteresis[rows] = spec.hysteresis
            self.debounce_count[rows] = spec.debounce_count
            self.debounce_of[rows] = max(spec.debounce_of, spec.debounce_count)
            self.hold_s[rows] = spec.hold_s
            if spec.baseline is not None:
                self.cumulative[rows] = True
                self.baseline[rows] = spec.baseline
            row += count
        # Latch state per side and level, carried between blocks.
        self._on_up = np.zeros((m, GRADES), dtype=bool)
        self._on_down = np.zeros((m, GRADES), dtype=bool)
        self.grade_up = np.zeros(m, dtype=np.int8)
        self.grade_down = np.zeros(m, dtype=np.int8)
        # Debounce memory: the last (of - 1) readings' "reached" flags, newest last, per level.
        self._depth = int(self.debounce_of.max() - 1) if m else 0
        self._recent_up = np.zeros((self._depth, m, GRADES), dtype=bool)
        self._recent_down = np.zeros((self._depth, m, GRADES), dtype=bool)
        # Hold time: since when each level has been reached without a break (NaN: not reached).
        self._since_up = np.full((m, GRADES), np.nan)
        self._since_down = np.full((m, GRADES), np.nan)
        self._first_up = _first_set(self.upper)
        self._first_down = _first_set(self.lower)
        self._has_upper = bool((~np.isnan(self.upper)).any())
        self._has_lower = bool((~np.isnan(self.lower)).any())
        self._debounced = bool(m and (self.debounce_count.max() > 1 or self.hold_s.max() > 0))

    def __len__(self) -> int:
        return len(self.channel)

    @property
    def grade(self) -> npt.NDArray[np.int8]:
        return np.maximum(self.grade_up, self.grade_down)

    def tick(self, now: float) -> TableResult:
        return TableResult.empty()

    def evaluate(self, block: Block) -> TableResult:
        if not len(self.channel) or block.rows == 0:
            return TableResult.empty()
        cols = self.channel
        usable = columns(block.usable, cols)
        if not usable.any():
            return TableResult.empty()
        value = columns(block.value, cols)
        ts = columns(block.ts, cols)
        if self.cumulative.any():
            value = self._relative_to_baseline(value, usable)

        old_up, old_down = self.grade_up.copy(), self.grade_down.copy()
        present = columns(block.present, cols)
        if self._has_upper:
            grade_up, self._on_up, self.grade_up = self._side(
                value, ts, present, usable, self.upper, True, self._on_up, self._recent_up, self._since_up
            )
        else:
            grade_up = np.zeros(usable.shape, dtype=np.int8)
        if self._has_lower:
            grade_down, self._on_down, self.grade_down = self._side(
                value,
                ts,
                present,
                usable,
                self.lower,
                False,
                self._on_down,
                self._recent_down,
                self._since_down,
            )
        else:
            grade_down = np.zeros(usable.shape, dtype=np.int8)
        return self._changes(value, ts, grade_up, grade_down, old_up, old_down)

    def _relative_to_baseline(
        self, value: npt.NDArray[np.float64], usable: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.float64]:
        unset = self.cumulative & np.isnan(self.baseline)
        if unset.any():
            has = usable.any(axis=0) & unset
            first_row = np.argmax(usable, axis=0)
            rows = np.flatnonzero(has)
            self.baseline[rows] = value[first_row[rows], rows]
        offset = np.where(self.cumulative, self.baseline, 0.0)
        return value - offset[None, :]

    def _side(
        self,
        value: npt.NDArray[np.float64],
        ts: npt.NDArray[np.float64],
        present: npt.NDArray[np.bool_],
        usable: npt.NDArray[np.bool_],
        limits: npt.NDArray[np.float64],
        upward: bool,
        on: npt.NDArray[np.bool_],
        recent: npt.NDArray[np.bool_],
        since: npt.NDArray[np.float64],
    ) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.bool_], npt.NDArray[np.int8]]:
        """(K, M) grades of one side, the latch state after the block, the grade after it."""
        # Only the levels some row sets a limit for (a lower side is often "red" alone).
        levels = np.flatnonzero((~np.isnan(limits)).any(axis=0))
        if not self._debounced and value.shape[0] > 1:
            return self._side_levels(value, usable, limits, upward, on, levels)
        if not self._debounced and len(levels) < GRADES:
            limits = limits[:, levels]
            on_used = on[:, levels]
        else:
            levels = np.arange(GRADES)
            on_used = on
        v = value[:, :, None]
        lim = limits[None, :, :]
        h = self.hysteresis[None, :, None]
        u = usable[:, :, None]
        with np.errstate(invalid="ignore"):
            if upward:
                reached = (v >= lim) & u
                fallen = (v < lim - h) & u
            else:
                reached = (v <= lim) & u
                fallen = (v > lim + h) & u
        # Unset limits compare False both ways: make them "fallen" so they never hold a latch.
        fallen |= np.isnan(lim) & u
        set_ = self._debounce(reached, ts, present, usable, recent, since) if self._debounced else reached
        latch = forward_fill_latch(set_, fallen, on_used)
        # The highest level on is the grade (levels with unset limits are never on).
        grades = np.zeros(latch.shape[:2], dtype=np.int8)
        for i, level in enumerate(levels.tolist()):
            grades[latch[..., i]] = level + 1
        after = on.copy()
        after[:, levels] = latch[-1]
        return grades, after, grades[-1].copy()

    def _side_levels(
        self,
        value: npt.NDArray[np.float64],
        usable: npt.NDArray[np.bool_],
        limits: npt.NDArray[np.float64],
        upward: bool,
        on: npt.NDArray[np.bool_],
        levels: npt.NDArray[np.intp],
    ) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.bool_], npt.NDArray[np.int8]]:
        """``_side`` without debounce or hold time: level by level, each one contiguous (K, M)."""
        k = value.shape[0]
        grades = np.zeros(value.shape, dtype=np.int8)
        after = on.copy()
        set_ = np.empty(value.shape, dtype=bool)
        reset = np.empty(value.shape, dtype=bool)
        code = np.empty(value.shape, dtype=np.int32)
        rows = np.arange(k, dtype=np.int32)[:, None]
        on_code = 2 * rows + 1  # the code of a set in row k; a reset in row k is 2k
        off_code = 2 * rows
        with np.errstate(invalid="ignore"):
            for level in levels.tolist():
                lim = limits[:, level]
                h = self.hysteresis
                if upward:
                    np.greater_equal(value, lim, out=set_)
                else:
                    np.less_equal(value, lim, out=set_)
                set_ &= usable
                if not on[:, level].any() and not set_.any():
                    continue  # off before the block and never reached in it: off throughout
                if upward:
                    np.less(value, lim - h, out=reset)
                else:
                    np.greater(value, lim + h, out=reset)
                # Unset limits compare False both ways: make them "fallen" so they never hold a latch.
                reset |= np.isnan(lim)
                reset &= usable
                # The latest decisive reading decides: code 2k + 1 for a set, 2k for a reset; the
                # latch before the block counts as one in row -1 (-1: on, -2: off).
                code[...] = np.where(on[:, level], np.int32(-1), np.int32(-2))
                np.copyto(code, on_code, where=set_)
                np.copyto(code, off_code, where=reset)
                np.maximum.accumulate(code, axis=0, out=code)
                latch = (code & 1).astype(bool)
                # The highest level on is the grade (levels with unset limits are never on).
                np.copyto(grades, np.int8(level + 1), where=latch)
                after[:, level] = latch[-1]
        return grades, after, grades[-1].copy()

    def _debounce(
        self,
        reached: npt.NDArray[np.bool_],
        ts: npt.NDArray[np.float64],
        present: npt.NDArray[np.bool_],
        usable: npt.NDArray[np.bool_],
        recent: npt.NDArray[np.bool_],
        since: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.bool_]:
        """Which "reached" readings may set a latch: k of the last n readings, held for hold_s.

        Column m's readings are a prefix of the block's rows; the carried memory is taken at each
        column's own last reading, so the result does not depend on where a stream was cut.
        """
        k, m, g = reached.shape
        depth = self._depth
        counted = np.concatenate([recent, reached], axis=0) if depth else reached
        sums = np.cumsum(counted, axis=0, dtype=np.int64)
        before_idx = np.arange(depth, depth + k)[:, None] - self.debounce_of[None, :]  # (k, m)
        gather = np.broadcast_to(np.clip(before_idx, 0, None)[:, :, None], (k, m, g))
        before = np.where((before_idx >= 0)[:, :, None], np.take_along_axis(sums, gather, axis=0), 0)
        ok = reached & ((sums[depth:] - before) >= self.debounce_count[None, :, None])
        if depth:
            n_present = present.sum(axis=0)  # (m,)
            keep = (n_present[None, :] + np.arange(depth)[:, None])[:, :, None]  # (depth, m, 1)
            recent[...] = np.take_along_axis(counted, np.broadcast_to(keep, (depth, m, g)), axis=0)
        if self.hold_s.max() > 0:
            ok &= self._held_long_enough(reached, ts, present, usable, since)
        return ok

    def _held_long_enough(
        self,
        reached: npt.NDArray[np.bool_],
        ts: npt.NDArray[np.float64],
        present: npt.NDArray[np.bool_],
        usable: npt.NDArray[np.bool_],
        since: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.bool_]:
        """Reached continuously (every reading since the run began) for at least hold_s."""
        k, m, g = reached.shape
        t = np.broadcast_to(ts[:, :, None], reached.shape)
        # Start time of the current run of "reached": a reading that reaches after one that did
        # not starts a run; any reading that does not reach (or is unusable) breaks it (inf).
        prev = np.concatenate([~np.isnan(since)[None], reached[:-1]], axis=0)
        marks = np.where(reached, np.where(prev, np.nan, t), np.inf)
        marks = np.where(present[:, :, None], marks, np.nan)  # padding after the last reading
        first = np.where(np.isnan(since), np.inf, since)[None]
        stacked = np.concatenate([first, marks], axis=0).reshape(k + 1, m * g)
        filled = _ffill(stacked)[1:].reshape(k, m, g)
        since[...] = np.where(np.isinf(filled[-1]), np.nan, filled[-1])
        return reached & np.isfinite(filled) & (t - filled >= self.hold_s[None, :, None])

    def _changes(
        self,
        value: npt.NDArray[np.float64],
        ts: npt.NDArray[np.float64],
        grade_up: npt.NDArray[np.int8],
        grade_down: npt.NDArray[np.int8],
        old_up: npt.NDArray[np.int8],
        old_down: npt.NDArray[np.int8],
    ) -> TableResult:
        combined = np.maximum(grade_up, grade_down)
        prev_up = np.concatenate([old_up[None], grade_up[:-1]], axis=0)
        prev_down = np.concatenate([old_down[None], grade_down[:-1]], axis=0)
        prev = np.maximum(prev_up, prev_down)
        k_idx, rows = np.nonzero(combined != prev)  # row-major: time order within each row
        if not len(rows):
            return TableResult.empty()
        new = combined[k_idx, rows]
        old = prev[k_idx, rows]
        upward = np.where(
            new > 0,
            grade_up[k_idx, rows] >= grade_down[k_idx, rows],
            prev_up[k_idx, rows] >= prev_down[k_idx, rows],
        )
        report = np.where(new > 0, new, np.where(upward, self._first_up[rows], self._first_down[rows]))
        limits = np.where(upward[:, None], self.upper[rows], self.lower[rows])
        limit = np.take_along_axis(limits, (report - 1).astype(np.intp)[:, None], 1)[:, 0]
        return result(rows, old, new, ts[k_idx, rows], value[k_idx, rows], limit, upward)


def _ffill(stacked: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Forward fill NaN along axis 0 (row 0 must be filled)."""
    idx = np.where(~np.isnan(stacked), np.arange(stacked.shape[0])[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    return np.take_along_axis(stacked, idx, axis=0)


def _first_set(limits: npt.NDArray[np.float64]) -> npt.NDArray[np.int8]:
    is_set = ~np.isnan(limits)
    first = np.argmax(is_set, axis=1) + 1
    return np.where(is_set.any(axis=1), first, 1).astype(np.int8)
