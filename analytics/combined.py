"""Combined rules: an alarm while several conditions hold at once (e.g. lifting in high wind).

A rule is judged at the time of every reading (of any quality) of any channel it involves. At such a
time t each condition looks at its channel's newest usable reading at or before t (as-of join across
channels, carried across blocks); the condition holds when that reading is not older than
``max_age_s`` and its value is strictly above ``above`` / below ``below``. The rule's grade is its
configured grade while every condition holds and 0 as soon as one fails (a missing or stale value
fails). Evaluations at equal times give equal answers, so ties cause no flapping.

The join sees what has arrived: when the stream is cut into blocks in time order between distinct
times, the answer does not depend on the cuts. Time passing without data changes nothing
(``tick``); a silent sensor is the quality rule's business, and the alarm clears at the next reading
of any involved channel once the silent one's value is older than ``max_age_s``.

The alarm's channel is the first condition's channel; an event's value and limit are that
condition's value (at the event's time) and threshold; its detail holds every condition's value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.table import F64, I8, Block, TableResult, result
from analytics.wind import I64, compact, sorted_column_search


@dataclass(frozen=True, slots=True)
class CombinedSpec:
    """One combined rule: one entry per condition; unset above/below are NaN (exactly one is set)."""

    rule: int
    columns: npt.NDArray[np.int32]
    above: npt.NDArray[np.float64]
    below: npt.NDArray[np.float64]
    grade: int = 2
    max_age_s: float = 60.0


class CombinedTable:
    """Every combined rule of a site; one row per rule."""

    def __init__(self, specs: Sequence[CombinedSpec]) -> None:
        m = len(specs)
        cols = [np.asarray(s.columns, dtype=np.int64).reshape(-1) for s in specs]
        counts = np.array([len(c) for c in cols], dtype=np.int64)
        if (counts == 0).any():
            raise ValueError("a combined rule needs at least one condition")
        above = [np.asarray(s.above, dtype=np.float64).reshape(-1) for s in specs]
        below = [np.asarray(s.below, dtype=np.float64).reshape(-1) for s in specs]
        for c, a, b in zip(cols, above, below, strict=True):
            if len(a) != len(c) or len(b) != len(c):
                raise ValueError("above and below need one entry per condition")
            if (np.isnan(a) == np.isnan(b)).any():
                raise ValueError("each condition needs exactly one of above and below")
        self.rule = np.array([s.rule for s in specs], dtype=np.int32)
        self.channel = np.array([c[0] for c in cols], dtype=np.int32)
        self.level = np.array([s.grade for s in specs], dtype=np.int8)
        self.max_age = np.array([s.max_age_s for s in specs], dtype=np.float64)
        empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)
        self.cond_row = np.repeat(np.arange(m, dtype=np.int64), counts)
        self.cond_col = np.concatenate(cols) if m else empty_i
        self.cond_above = np.concatenate(above) if m else empty_f
        self.cond_below = np.concatenate(below) if m else empty_f
        self.first_cond = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if m else empty_i
        self.columns, self.cond_d = np.unique(self.cond_col, return_inverse=True)
        self.cond_d = self.cond_d.reshape(-1).astype(np.int64)
        # (M, Cmax) condition numbers of each rule, -1 beyond its count.
        width = int(counts.max()) if m else 0
        self._conds = np.full((m, width), -1, dtype=np.int64)
        for i in range(m):
            self._conds[i, : counts[i]] = np.arange(self.first_cond[i], self.first_cond[i] + counts[i])
        d = len(self.columns)
        self.last_ts = np.full(d, np.nan)  # newest usable reading of each involved column
        self.last_value = np.full(d, np.nan)
        self._grade = np.zeros(m, dtype=np.int8)

    def __len__(self) -> int:
        return len(self.rule)

    @property
    def grade(self) -> I8:
        return self._grade.copy()

    def tick(self, now: float) -> TableResult:
        return TableResult.empty()

    def evaluate(self, block: Block) -> TableResult:
        k, d = block.rows, len(self.columns)
        if k == 0 or d == 0:
            return TableResult.empty()
        t = block.ts[:, self.columns]
        v = block.value[:, self.columns]
        present = block.present[:, self.columns] & np.isfinite(t)
        ok = block.usable[:, self.columns] & np.isfinite(v) & np.isfinite(t)
        order, u = compact(ok)
        tc = np.take_along_axis(t, order, axis=0)
        vc = np.take_along_axis(v, order, axis=0)

        # Evaluation times: every reading of a condition's column, once per (rule, time).
        pk, pp = np.nonzero(present[:, self.cond_d])
        ev_row = self.cond_row[pp]
        ev_t = t[pk, self.cond_d[pp]]
        if not len(ev_row):
            self._carry(tc, vc, u)
            return TableResult.empty()
        by_row_time = np.lexsort((ev_t, ev_row))
        ev_row, ev_t = ev_row[by_row_time], ev_t[by_row_time]
        first = np.ones(len(ev_row), dtype=bool)
        first[1:] = (ev_row[1:] != ev_row[:-1]) | (ev_t[1:] != ev_t[:-1])
        ev_row, ev_t = ev_row[first], ev_t[first]

        # Every condition of the event's rule, looked up as of the event's time.
        conds = self._conds[ev_row]  # (E, Cmax)
        e_idx, slot = np.nonzero(conds >= 0)
        q = conds[e_idx, slot]
        col_d = self.cond_d[q]
        at = ev_t[e_idx]
        before = sorted_column_search(tc, u, col_d, at)
        in_block = before > 0
        pos = np.maximum(before - 1, 0)
        val = np.where(in_block, vc[pos, col_d], self.last_value[col_d])
        val_t = np.where(in_block, tc[pos, col_d], self.last_ts[col_d])
        with np.errstate(invalid="ignore"):
            fresh = np.isfinite(val) & (at - val_t <= self.max_age[ev_row[e_idx]])
            above = self.cond_above[q]
            below = self.cond_below[q]
            holds = fresh & (np.isnan(above) | (val > above)) & (np.isnan(below) | (val < below))
        all_hold = np.ones(conds.shape, dtype=bool)
        all_hold[e_idx, slot] = holds
        new = np.where(all_hold.all(axis=1), self.level[ev_row], np.int8(0)).astype(np.int8)
        first_value = np.full(conds.shape, np.nan)
        first_value[e_idx, slot] = val
        value = first_value[:, 0]

        row_start = np.ones(len(ev_row), dtype=bool)
        row_start[1:] = ev_row[1:] != ev_row[:-1]
        prev = np.empty_like(new)
        prev[1:] = new[:-1]
        prev[row_start] = self._grade[ev_row[row_start]]
        last_of_row = np.ones(len(ev_row), dtype=bool)
        last_of_row[:-1] = row_start[1:]
        self._grade[ev_row[last_of_row]] = new[last_of_row]
        self._carry(tc, vc, u)

        changed = np.flatnonzero(new != prev)
        rows = ev_row[changed]
        c0 = self.first_cond[rows]
        upward = ~np.isnan(self.cond_above[c0])
        limit = np.where(upward, self.cond_above[c0], self.cond_below[c0])
        # Detail: every condition's value at the change, in the rule's order.
        return result(
            rows, prev[changed], new[changed], ev_t[changed], value[changed], limit, upward,
            detail=first_value[changed],
        )  # fmt: skip

    def _carry(self, tc: F64, vc: F64, u: I64) -> None:
        newest = np.flatnonzero(u > 0)
        self.last_ts[newest] = tc[u[newest] - 1, newest]
        self.last_value[newest] = vc[u[newest] - 1, newest]
