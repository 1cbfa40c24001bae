"""Minimum dwell: a grade, once reached, is held for at least ``min_hold_s`` of data time.

Applied by the engine to every judge's grade changes (all bindings at once, struct of arrays), on
top of each rule's own hysteresis and debounce. The held grade at time t is the highest grade the
rule gave over (t - min_hold_s, t]: a rise passes at once; a fall waits until the higher grade has
not been given for ``min_hold_s`` (an off-delay, like Prometheus ``keep_firing_for``), so a value
flickering around a limit raises once and clears once. With a hold of 60 s no alarm can go in, out
and in again within 60 s (ISA-18.2's chattering).

Each grade level (1..3) of each binding is one latch: on while the rule's grade reaches the level,
then kept on until ``min_hold_s`` after the rule's grade last fell below it. A fall is *decided*
(and given the data time at which the hold ended) once later data proves the rule did not come back
in time: a reading of the binding's channel at or after that time, or the engine's clock tick a
grace period after it (a channel that went silent must not hold its alarm for ever). Decisions
depend only on data time, so the result does not depend on how the stream was cut into blocks.

A held fall carries the newest judged value the rule reported at or before it; its limit is the
limit the rule last gave for the grade it falls to (the newest limit when that grade was never seen).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from analytics.table import DETAIL_SLOTS, F64, I8, IDX, TableResult

LEVELS = 3
# A tick releases a hold only this long (data time) after it ended: readings arrive a little after
# their data time, and one stamped before the end of the hold must still be able to keep it.
TICK_GRACE_S = 10.0
_PAYLOAD = ("value", "limit", "upward", "time_to_limit_s", "failure_time", "detail")


class GradeHold:
    """Held grades of all (rule, channel) bindings: rows of arrays, one per binding.

    ``channel[b]`` is the column whose readings move binding b's data time on; ``min_hold_s[b]`` its
    dwell (0: grades pass unchanged).
    """

    def __init__(self, channel: npt.NDArray[np.int32], min_hold_s: F64) -> None:
        m = len(channel)
        hold = np.asarray(min_hold_s, dtype=np.float64)
        if hold.shape != (m,):
            raise ValueError(f"min_hold_s must hold one value per binding ({m}), got shape {hold.shape}")
        if not np.all(np.isfinite(hold) & (hold >= 0)):
            raise ValueError("min_hold_s must be finite and not negative")
        self.channel = np.asarray(channel, dtype=np.intp)
        self.min_hold_s = hold
        self._held_rows = hold > 0
        self.grade: I8 = np.zeros(m, dtype=np.int8)  # held grade (what the alarms show)
        self.raw: I8 = np.zeros(m, dtype=np.int8)  # the rule's own grade
        # When the rule fell below a level that is still held (NaN: not held). The hold ends at
        # fell_at + min_hold_s; kept as the fall's own time so that every cut computes it alike.
        self.fell_at = np.full((m, LEVELS), np.nan)
        self.seen = np.full(m, -np.inf)  # newest data time known for the binding
        # The rule's newest report, for the falls the hold makes later.
        self.value = np.full(m, np.nan)
        self.limit = np.full(m, np.nan)
        self.upward = np.ones(m, dtype=bool)
        self.time_to_limit_s = np.full(m, np.nan)
        self.failure_time = np.full(m, np.nan)
        self.detail = np.full((m, DETAIL_SLOTS), np.nan)
        self.grade_limit = np.full((m, LEVELS + 1), np.nan)  # limit given on entering each grade

    def __len__(self) -> int:
        return len(self.grade)

    @property
    def release(self) -> F64:
        """(M, 3) data time at which each held level may fall (NaN: not held)."""
        return self.fell_at + self.min_hold_s[:, None]

    @property
    def holding(self) -> npt.NDArray[np.bool_]:
        """Bindings whose grade is held above the rule's own."""
        return self.grade > self.raw

    def apply(self, found: TableResult, newest: F64 | float) -> TableResult:
        """The held grade changes for the rule's changes ``found`` (rows = bindings, in time order
        within a binding). ``newest``: per channel (N,) the newest data time of this block (NaN
        where none), or one time for all (a clock tick, already less its grace)."""
        if isinstance(newest, float):
            horizon = np.full(len(self), newest)
        else:
            horizon = np.asarray(newest, dtype=np.float64)[self.channel]
        if len(found):
            np.fmax.at(horizon, found.row, found.ts)
        self.seen = np.fmax(self.seen, horizon)

        held = self._held_rows[found.row] if len(found) else np.zeros(0, dtype=bool)
        passing = found.take(np.flatnonzero(~held)) if len(found) else found
        if len(passing):
            self._remember(passing)
            last = _last_per_row(passing.row)
            self.grade[passing.row[last]] = passing.new_grade[last]
        pending = np.isfinite(self.fell_at).any(axis=1)
        if not held.any() and not pending.any():
            return passing
        mine = found.take(np.flatnonzero(held))
        out = self._hold(mine, pending)
        return TableResult.concat([passing, out]) if len(passing) else out

    def _hold(self, raw: TableResult, pending: npt.NDArray[np.bool_]) -> TableResult:
        n = len(raw)
        # 1. The rule's changes as level events: a rise or a fall of each level crossed.
        span = np.abs(raw.new_grade.astype(np.int64) - raw.old_grade).astype(np.int64)
        src = np.repeat(np.arange(n), span)
        step = np.arange(len(src)) - np.repeat(np.cumsum(span) - span, span)
        level = np.minimum(raw.old_grade, raw.new_grade)[src].astype(np.int64) + 1 + step
        rise = (raw.new_grade > raw.old_grade)[src]
        t = raw.ts[src]
        row = raw.row[src]
        # Holds still running from earlier blocks come first, as falls at (release - hold).
        pr, pl = np.nonzero(np.isfinite(self.fell_at) & pending[:, None])
        row = np.concatenate([pr, row]).astype(np.intp)
        level = np.concatenate([pl + 1, level])
        rise = np.concatenate([np.zeros(len(pr), dtype=bool), rise])
        t = np.concatenate([self.fell_at[pr, pl], t])
        seq = np.concatenate([np.full(len(pr), -1), src])
        self.fell_at[pr, pl] = np.nan

        # 2. Per (binding, level) in time order: a fall ends the level only if the rule does not
        # reach it again within the hold; a rise starts it only if it was not still held.
        order = np.lexsort((seq, t, level, row))
        row, level, rise, t, seq = row[order], level[order], rise[order], t[order], seq[order]
        ends = t + self.min_hold_s[row]
        same_prev = np.zeros(len(row), dtype=bool)
        same_prev[1:] = (row[1:] == row[:-1]) & (level[1:] == level[:-1])
        same_next = np.zeros(len(row), dtype=bool)
        same_next[:-1] = same_prev[1:]
        prev_end = np.concatenate([[-np.inf], ends[:-1]])
        next_t = np.concatenate([t[1:], [np.inf]])
        starts = rise & ~(same_prev & ~np.roll(rise, 1) & (t <= prev_end))
        closes = ~rise & ~(same_next & (next_t <= ends))
        decided = closes & (same_next | (ends <= self.seen[row]))
        waiting = closes & ~decided
        self.fell_at[row[waiting], level[waiting] - 1] = t[waiting]

        # 3. Level events to grade changes: the held grade counts the levels on (they are nested).
        on = np.flatnonzero(starts)
        off = np.flatnonzero(decided)
        e_row = np.concatenate([row[on], row[off]])
        e_t = np.concatenate([t[on], ends[off]])
        e_delta = np.concatenate([np.ones(len(on), dtype=np.int64), -np.ones(len(off), dtype=np.int64)])
        e_src = np.concatenate([seq[on], np.full(len(off), -1)])
        if not len(e_row):
            self._remember(raw)
            return TableResult.empty()
        order = np.lexsort((e_t, e_row))
        e_row, e_t, e_delta, e_src = e_row[order], e_t[order], e_delta[order], e_src[order]
        first = np.r_[True, e_row[1:] != e_row[:-1]]
        base = self.grade[e_row].astype(np.int64)
        csum = np.cumsum(e_delta)
        before_group = np.maximum.accumulate(np.where(first, np.arange(len(e_row)), 0))
        level_now = base + csum - (csum[before_group] - e_delta[before_group])
        # One change per (binding, time): the last event at that time gives the grade after it.
        last_at = np.r_[(e_row[1:] != e_row[:-1]) | (e_t[1:] != e_t[:-1]), True]
        first_at = np.r_[True, last_at[:-1]]
        after = level_now[last_at]
        start_idx = np.flatnonzero(first_at)
        before = level_now[start_idx] - e_delta[start_idx]
        rows, ts = e_row[last_at], e_t[last_at]
        rose_src = np.maximum.accumulate(np.where(e_src >= 0, np.arange(len(e_src)), -1))[last_at]
        keep = after != before
        self.grade[rows] = after.astype(np.int8)  # rows are sorted: the last write is the newest
        rows, ts, after, before = rows[keep], ts[keep], after[keep], before[keep]
        out = self._payload(raw, rows, ts, before, after, e_src, rose_src[keep])
        self._remember(raw)
        return out

    def _payload(
        self,
        raw: TableResult,
        rows: IDX,
        ts: F64,
        before: npt.NDArray[np.int64],
        after: npt.NDArray[np.int64],
        e_src: npt.NDArray[np.int64],
        rose_at: npt.NDArray[np.int64],
    ) -> TableResult:
        """Values and limits of the held changes: a rise carries the rule's own change; a fall the
        rule's newest report at or before it."""
        n = len(rows)
        out = {
            name: np.empty((n, *getattr(self, name).shape[1:]), dtype=getattr(self, name).dtype)
            for name in _PAYLOAD
        }
        for name in _PAYLOAD:
            out[name][:] = getattr(self, name)[rows]  # newest report; refined below
        rising = after > before
        if rising.any():
            # The rule's change that raised it: the last rise event of the group.
            src = e_src[rose_at[rising]]
            for name in _PAYLOAD:
                out[name][rising] = getattr(raw, name)[src]
        falling = np.flatnonzero(~rising)
        if len(falling) and len(raw):
            # The rule's newest change at or before the fall (in this block), else its carried report.
            key_row = np.concatenate([raw.row, rows[falling]])
            key_t = np.concatenate([raw.ts, ts[falling]])
            is_raw = np.r_[np.ones(len(raw), dtype=bool), np.zeros(len(falling), dtype=bool)]
            order = np.lexsort((~is_raw, key_t, key_row))
            newest = np.maximum.accumulate(np.where(is_raw[order], np.arange(len(order)), -1))
            at = np.empty(len(order), dtype=np.int64)
            at[order] = np.where(newest >= 0, order[np.maximum(newest, 0)], -1)
            found = at[len(raw) :]
            ok = (found >= 0) & (raw.row[np.maximum(found, 0)] == rows[falling])
            for name in _PAYLOAD:
                column = out[name]
                column[falling[ok]] = getattr(raw, name)[found[ok]]
        if len(falling):
            known = self.grade_limit[rows[falling], after[falling]]
            use = np.isfinite(known) & (after[falling] > 0)
            out["limit"][falling[use]] = known[use]
        return TableResult(
            row=rows.astype(np.intp),
            old_grade=before.astype(np.int8),
            new_grade=after.astype(np.int8),
            ts=ts,
            value=out["value"],
            limit=out["limit"],
            upward=out["upward"].astype(bool),
            time_to_limit_s=out["time_to_limit_s"],
            failure_time=out["failure_time"],
            detail=out["detail"],
        )

    def _remember(self, raw: TableResult) -> None:
        """The rule's newest grade and report per binding, and the limit it gave each grade."""
        if not len(raw):
            return
        last = _last_per_row(raw.row)
        rows = raw.row[last]
        self.raw[rows] = raw.new_grade[last]
        for name in _PAYLOAD:
            getattr(self, name)[rows] = getattr(raw, name)[last]
        entered = raw.new_grade > 0
        self.grade_limit[raw.row[entered], raw.new_grade[entered]] = raw.limit[entered]


def _last_per_row(row: IDX) -> IDX:
    """Index of the last entry of each row (entries of a row in time order, rows interleaved)."""
    order = np.argsort(row, kind="stable")
    s = row[order]
    return order[np.r_[s[1:] != s[:-1], True]]
