"""Grades carried over a restart: the alarm desk's word on a binding until the data speaks.

After a restart every judge starts from rest (or from a warm start on stored readings) and need not
be at the grade of an alarm that is still active. A carried grade stands in for the judge's grade:

- a threshold row steps from the carried grade on each new usable reading, with the rule's
  hysteresis (a reading inside the band holds the alarm, as an uninterrupted run would; the
  judge's own transitions, from rest, are not used) until the judge's grade agrees;
- any other binding's next transition continues from the carried grade, and one that only repeats
  it is no event (no second raise); without a transition, the first usable reading of the channel
  at or after ``settle_from`` (data time: once the judge has seen a window of data) moves the
  carried grade to the judge's, so an alarm whose condition is gone clears.

Vectorised over bindings; nothing is carried in a run that never restarted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.state import ChannelState
from analytics.table import Judge
from analytics.thresholds import ThresholdTable, graded

NONE = -1  # nothing carried

F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]
IDX = npt.NDArray[np.intp]


@dataclass(slots=True)
class Settled:
    """Grade changes made by settling carried grades (binding numbers, data time order not implied)."""

    binding: IDX
    old_grade: I8
    new_grade: I8
    ts: F64
    value: F64
    limit: F64
    upward: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.binding)


class CarriedGrades:
    def __init__(self, judges: Sequence[Judge]) -> None:
        sizes = [len(j.channel) for j in judges]
        n = int(sum(sizes))
        self.grade = np.full(n, NONE, dtype=np.int8)
        self.settle_from = np.full(n, np.nan)  # NaN: the first usable reading + window_s
        self.window_s = np.zeros(n)
        self._seen_ts = np.full(n, -np.inf)  # last usable time of the channel when last looked at
        self._judges = list(judges)
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
        self._channel_of = (
            np.concatenate([j.channel for j in self._judges]).astype(np.int32)
            if self._judges
            else np.zeros(0, dtype=np.int32)
        )
        self._stepped = np.zeros(n, dtype=bool)  # threshold rows: stepped with their hysteresis
        for i, judge in enumerate(self._judges):
            if isinstance(judge, ThresholdTable):
                self._stepped[self._offsets[i] : self._offsets[i + 1]] = True
        self.any = False

    def carry(self, binding: IDX, grade: I8, settle_from: F64, window_s: F64, state: ChannelState) -> None:
        """Carry ``grade`` for ``binding``; see the module text for ``settle_from`` and ``window_s``."""
        self.grade[binding] = grade
        self.settle_from[binding] = settle_from
        self.window_s[binding] = window_s
        self._seen_ts[binding] = np.nan_to_num(state.last_good_ts[self._channel(binding)], nan=-np.inf)
        self.any = bool((self.grade != NONE).any())

    def overlay(self, judged: I8) -> I8:
        return np.where(self.grade != NONE, self.grade, judged).astype(np.int8)

    def continue_first(self, binding: IDX, old: I8, new: I8) -> tuple[I8, npt.NDArray[np.bool_]]:
        """Old grades with each carried binding's first transition continuing from the carried grade,
        and which transitions to keep (a repeat of the carried grade is none). Bindings in time order."""
        keep = np.ones(len(binding), dtype=bool)
        if not self.any or not len(binding):
            return old, keep
        carried = self.grade[binding] != NONE
        stepped = carried & self._stepped[binding]
        keep[stepped] = False  # ``settle`` steps these itself
        carried = np.flatnonzero(carried & ~stepped)
        if not len(carried):
            return old, keep
        _, first = np.unique(binding[carried], return_index=True)
        at = carried[first]
        old = old.copy()
        old[at] = self.grade[binding[at]]
        keep[at] = old[at] != new[at]
        self.grade[binding[at]] = NONE
        self.any = bool((self.grade != NONE).any())
        return old, keep

    def settle(self, state: ChannelState, judged: I8) -> Settled:
        """Carried bindings whose channel has a new usable reading: move to the data's verdict."""
        rows = np.flatnonzero(self.grade != NONE)
        empty = Settled(*_empty())
        if not len(rows):
            return empty
        ch = self._channel(rows)
        good_ts = state.last_good_ts[ch]
        new_reading = np.isfinite(good_ts) & (good_ts > self._seen_ts[rows])
        self._seen_ts[rows] = np.where(np.isfinite(good_ts), good_ts, self._seen_ts[rows])
        # Without a warm start, the window starts with the first usable reading seen.
        unset = new_reading & np.isnan(self.settle_from[rows]) & ~self._stepped[rows]
        self.settle_from[rows[unset]] = good_ts[unset] + self.window_s[rows[unset]]
        # Judged only where the channel's newest reading is the usable one (its value is at hand).
        due = new_reading & (state.last_ts[ch] == good_ts)
        due &= self._stepped[rows] | (good_ts >= self.settle_from[rows])
        rows, ch, ts = rows[due], ch[due], good_ts[due]
        if not len(rows):
            return empty
        carried = self.grade[rows]
        value = np.full(len(rows), np.nan)  # a judge's own quantity (a rate, a ratio) is not at hand
        verdict = judged[rows].copy()
        limit = np.full(len(rows), np.nan)
        upward = np.ones(len(rows), dtype=bool)
        for i, judge in enumerate(self._judges):
            if not isinstance(judge, ThresholdTable):
                continue
            lo, hi = self._offsets[i], self._offsets[i + 1]
            mine = np.flatnonzero((rows >= lo) & (rows < hi))
            if len(mine):
                verdict[mine], value[mine], limit[mine], upward[mine] = _threshold_step(
                    judge, rows[mine] - lo, state.last_value[ch[mine]], carried[mine]
                )
        moved = verdict != carried
        # Where the verdict is the judge's own grade, the judge takes over; else it is carried on.
        self.grade[rows] = np.where(verdict == judged[rows], NONE, verdict)
        self.any = bool((self.grade != NONE).any())
        return Settled(
            rows[moved], carried[moved], verdict[moved], ts[moved], value[moved], limit[moved], upward[moved]
        )

    def _channel(self, binding: IDX) -> npt.NDArray[np.int32]:
        return self._channel_of[binding]


def _threshold_step(
    table: ThresholdTable, rows: IDX, value: F64, carried: I8
) -> tuple[I8, F64, F64, npt.NDArray[np.bool_]]:
    """One hysteresis step from the carried grade on a threshold table's rows: grade, judged value,
    limit (of the new grade; of the first one set when back to normal), and the side."""
    judged = value - np.where(table.cumulative[rows], table.baseline[rows], 0.0)
    h = table.hysteresis[rows]
    up = graded(judged, table.upper[rows], carried, h, upward=True)
    down = graded(judged, table.lower[rows], carried, h, upward=False)
    grade = np.maximum(up, down).astype(np.int8)
    has_upper = ~np.isnan(table.upper[rows]).all(axis=1)
    upward = np.where(grade > 0, up >= down, has_upper)
    limits = np.where(upward[:, None], table.upper[rows], table.lower[rows])
    first = np.argmax(~np.isnan(limits), axis=1)
    level = np.where(grade > 0, grade - 1, first).astype(np.intp)
    limit = np.take_along_axis(limits, level[:, None], axis=1)[:, 0]
    return grade, judged, limit, upward


def _empty() -> tuple[IDX, I8, I8, F64, F64, F64, npt.NDArray[np.bool_]]:
    f = np.zeros(0)
    i8 = np.zeros(0, dtype=np.int8)
    return np.zeros(0, dtype=np.intp), i8, i8.copy(), f, f.copy(), f.copy(), np.zeros(0, dtype=bool)
