"""The analytics core: readings in (arrays), alarm grade transitions out (arrays).

A batch is laid out as blocks (time rank × channel); screens, derivers and judges (the rule tables)
run over each block in turn; see ``analytics.table``.

Pure computation: no I/O, no clock. Time comes in with the data, so the same engine serves the live
gateway (small batches as they arrive) and replay (whole arrays).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from analytics.carry import CarriedGrades, Settled
from analytics.chatter import ChatterCounter
from analytics.hold import TICK_GRACE_S, GradeHold
from analytics.rewind import REWOUND, ClockRewind
from analytics.rounds import occurrence_rank, time_then_channel_order, to_block
from analytics.state import ChannelState
from analytics.table import DETAIL_SLOTS, Block, Deriver, Judge, Screen, TableResult
from analytics.thresholds import ThresholdSpec, ThresholdTable
from gateway.vocab.quality_bits import Quality

BAD = Quality.BAD
BAD_VALUE = Quality.BAD_VALUE
BAD_RANGE = Quality.BAD_RANGE


@dataclass(slots=True)
class Transitions:
    """Grade changes of (rule, channel) bindings, one row each, in data-time order."""

    ts: npt.NDArray[np.float64]
    binding: npt.NDArray[np.intp]
    old_grade: npt.NDArray[np.int8]
    new_grade: npt.NDArray[np.int8]
    value: npt.NDArray[np.float64]
    limit: npt.NDArray[np.float64]
    upward: npt.NDArray[np.bool_]
    time_to_limit_s: npt.NDArray[np.float64]
    failure_time: npt.NDArray[np.float64]
    # (n, DETAIL_SLOTS) numbers for the message, as the binding's table defines them; NaN unused.
    detail: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, DETAIL_SLOTS)))

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(slots=True)
class DerivedReadings:
    """Readings of the derived columns (wind means, crane ratios) a batch produced, in time order.

    Only values the derivers computed: a derived cell left without a value (a crane load before any
    radius is known) gives no reading.
    """

    ts: npt.NDArray[np.float64]
    channel: npt.NDArray[np.int32]
    value: npt.NDArray[np.float64]
    quality: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.ts)

    @staticmethod
    def empty() -> DerivedReadings:
        return DerivedReadings(
            np.zeros(0), np.zeros(0, dtype=np.int32), np.zeros(0), np.zeros(0, dtype=np.uint8)
        )


@dataclass(slots=True)
class EngineResult:
    quality: npt.NDArray[np.uint8]  # the batch's flags, with the core's own findings added
    accepted: npt.NDArray[np.bool_]  # readings the core took in order (not stale, not doubled)
    transitions: Transitions
    rejected: Counter[str] = field(default_factory=Counter)
    derived: DerivedReadings = field(default_factory=DerivedReadings.empty)


# A block holds at most this many cells (rows × channels): bounds memory on long replays.
MAX_BLOCK_CELLS = 2_000_000


class Engine:
    """Every alarm rule of a site over every channel, vectorised over channels and time.

    Columns ``0..first_derived-1`` are raw channels fed by ``process``; the columns from
    ``first_derived`` on are filled by derivers (wind means, crane ratios) and refuse input.
    Bindings (a judge's rows) are numbered judge after judge, in the order given. ``min_hold_s``
    (one per binding, default 0) is each binding's minimum dwell (``analytics.hold``); every grade
    change that leaves the engine is counted for chattering (``analytics.chatter``).
    """

    def __init__(
        self,
        range_low: npt.NDArray[np.float64],
        range_high: npt.NDArray[np.float64],
        thresholds: Sequence[ThresholdSpec] = (),
        *,
        judges: Sequence[Judge] = (),
        screens: Sequence[Screen] = (),
        derivers: Sequence[Deriver] = (),
        first_derived: int | None = None,
        min_hold_s: npt.NDArray[np.float64] | None = None,
    ) -> None:
        self.state = ChannelState(range_low, range_high)
        n = len(self.state)
        self.first_derived = n if first_derived is None else first_derived
        self.thresholds = ThresholdTable(list(thresholds))
        self.judges: list[Judge] = [self.thresholds, *judges] if thresholds else list(judges)
        self.screens = list(screens)
        self.derivers = list(derivers)
        for judge in self.judges:
            bound = judge.channel
            # A column of -1 (ChannelIndex.UNKNOWN) would silently index the last channel.
            if len(bound) and (int(bound.min()) < 0 or int(bound.max()) >= n):
                raise ValueError(f"rule bound to a channel outside 0..{n - 1}")
        sizes = [len(j.channel) for j in self.judges]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
        self.rejected_total: Counter[str] = Counter()
        self.rewind = ClockRewind(n)
        # Grades of alarms still active before a restart, until the data speaks (analytics.carry).
        self.carried = CarriedGrades(self.judges)
        channels = self.binding_channel
        hold = np.zeros(len(channels)) if min_hold_s is None else np.asarray(min_hold_s, dtype=np.float64)
        self.hold = GradeHold(channels, hold)
        self.chatter = ChatterCounter(len(channels))

    @property
    def binding_channel(self) -> npt.NDArray[np.int32]:
        return _cat([j.channel for j in self.judges], np.int32)

    @property
    def binding_rule(self) -> npt.NDArray[np.int32]:
        return _cat([j.rule for j in self.judges], np.int32)

    @property
    def binding_grade(self) -> npt.NDArray[np.int8]:
        """Current grade of each binding, as its alarms show it (held for its minimum dwell, and
        carried over a restart until the data speaks)."""
        held = self.hold.grade.copy()
        return self.carried.overlay(held) if self.carried.any else held

    def channel_grade(self) -> npt.NDArray[np.int8]:
        """Worst current grade of each channel over all its rules."""
        grade = np.zeros(len(self.state), dtype=np.int8)
        np.maximum.at(grade, self.binding_channel, self.binding_grade)
        return grade

    def process(
        self,
        ts: npt.NDArray[np.float64],
        channel: npt.NDArray[np.int32],
        value: npt.NDArray[np.float64],
        quality: npt.NDArray[np.uint8],
    ) -> EngineResult:
        rejected: Counter[str] = Counter()
        quality = quality.copy()
        known = (channel >= 0) & (channel < self.first_derived) & np.isfinite(ts)
        if not known.all():
            rejected["unknown_channel_or_time"] += int((~known).sum())

        order = time_then_channel_order(ts, channel)
        if not known.all():
            order = order[known[order]]
        s_ts, s_ch, s_val = ts[order], channel[order], value[order]
        s_q = quality[order]

        # Flag what the core cannot judge: non-finite values, values outside the physical range.
        non_finite = ~np.isfinite(s_val)
        s_q[non_finite] |= BAD_VALUE
        with np.errstate(invalid="ignore"):
            out_of_range = ~non_finite & (
                (s_val < self.state.range_low[s_ch]) | (s_val > self.state.range_high[s_ch])
            )
        s_q[out_of_range] |= BAD_RANGE
        n_non_finite, n_out_of_range = int(non_finite.sum()), int(out_of_range.sum())
        rejected["non_finite"] += n_non_finite
        rejected["out_of_range"] += n_out_of_range

        # Time order per channel: a reading not newer than the one before is rejected. The batch is
        # sorted by time within a channel, so only the newest time of earlier batches can make a
        # reading stale; comparing with the neighbour would let readings behind a stale one through.
        # A time seen before is a duplicate whether it came in this batch or an earlier one, so the
        # counts do not depend on how the stream was cut into batches.
        last_ts = self.state.last_ts[s_ch]
        stale = s_ts < last_ts
        repeated = s_ts == last_ts
        if len(s_ts):
            repeated[1:] |= (s_ch[1:] == s_ch[:-1]) & (s_ts[1:] == s_ts[:-1])
        duplicate = repeated & ~stale
        # A device clock that jumped back: a few readings behind, in order, start a new time line.
        rewound, rewinds = self.rewind.take(s_ts, s_ch, stale, ~(duplicate | stale))
        stale &= ~rewound
        rejected[REWOUND] += rewinds
        rejected["duplicate_time"] += int(duplicate.sum())
        rejected["out_of_order"] += int(stale.sum())
        in_order = ~(duplicate | stale)

        if n_non_finite or n_out_of_range:  # else s_q is quality[order] as it was
            quality[order] = s_q
        all_in_order = bool(in_order.all())
        if all_in_order and len(order) == len(ts):
            accepted = np.ones(len(ts), dtype=bool)
        else:
            accepted = np.zeros(len(ts), dtype=bool)
            accepted[order[in_order]] = True

        derived: list[DerivedReadings] = []
        if all_in_order:  # the usual case: no copies
            transitions = self._evaluate(s_ts, s_ch, s_val, s_q, derived)
        else:
            keep = np.flatnonzero(in_order)
            transitions = self._evaluate(s_ts[keep], s_ch[keep], s_val[keep], s_q[keep], derived)
        if self.carried.any:
            transitions = self._carry_over(transitions, settle=True)
        for key, count in rejected.items():
            if count:
                self.rejected_total[key] += count
        return EngineResult(quality, accepted, transitions, +rejected, _concat_derived(derived))

    def restart_time_line(self, channels: npt.NDArray[np.intp]) -> None:
        """Forget these channels' newest time: a caller that judges time in arrival order (replay, in
        file order) found their device clock set back, as ``analytics.rewind`` does per batch."""
        self.state.last_ts[channels] = -np.inf
        self.rewind.behind[channels] = 0
        self.rewind.behind_last[channels] = -np.inf

    def tick(self, now: float) -> Transitions:
        """Let time pass without data (silent sensors are noticed, held grades of silent channels
        fall a grace period after their hold ended)."""
        found = self._rows([(i, j.tick(now)) for i, j in enumerate(self.judges)])
        out = self._out(self.hold.apply(found, float(now) - TICK_GRACE_S))
        return self._carry_over(out, settle=False) if self.carried.any else out

    def _carry_over(self, t: Transitions, settle: bool) -> Transitions:
        """Continue the grades carried over a restart; settle them on new usable readings."""
        old, keep = self.carried.continue_first(t.binding, t.old_grade, t.new_grade)
        t.old_grade = old
        t = _take(t, np.flatnonzero(keep))
        if settle:
            settled = self.carried.settle(self.state, _cat([j.grade for j in self.judges], np.int8))
            if len(settled):
                t = _with_settled(t, settled)
        return t

    def _evaluate(
        self,
        ts: npt.NDArray[np.float64],
        channel: npt.NDArray[np.int32],
        value: npt.NDArray[np.float64],
        quality: npt.NDArray[np.uint8],
        derived: list[DerivedReadings] | None = None,
    ) -> Transitions:
        held: list[TableResult] = []
        n = len(self.state)
        rank = occurrence_rank(channel)  # the batch is channel-sorted, time-sorted within
        rows_per_block = max(1, MAX_BLOCK_CELLS // max(n, 1))
        start_rank = 0
        top = int(rank.max()) + 1 if len(rank) else 0
        while start_rank < top:
            stop_rank = start_rank + rows_per_block
            if start_rank == 0 and stop_rank >= top:  # one block: the whole batch
                block = to_block(ts, channel, value, quality, n, bad=BAD, presorted=True, rank=rank)
            else:
                part = np.flatnonzero((rank >= start_rank) & (rank < stop_rank))
                block = to_block(
                    ts[part], channel[part], value[part], quality[part], n, bad=BAD, presorted=True,
                    rank=rank[part] - start_rank,
                )  # fmt: skip
            for screen in self.screens:
                screen.screen(block)
            for deriver in self.derivers:
                deriver.derive(block)
            if derived is not None and self.first_derived < n:
                derived.append(self._derived_of(block))
            self._remember(block)
            found = [(i, judge.evaluate(block)) for i, judge in enumerate(self.judges)]
            newest = np.fmax.reduce(block.ts, axis=0) if block.rows else np.full(n, np.nan)
            held.append(self.hold.apply(self._rows(found), newest))
            start_rank = stop_rank
        return self._out(TableResult.concat(held))

    def _derived_of(self, block: Block) -> DerivedReadings:
        """The block's computed cells of the derived columns, as readings."""
        first = self.first_derived
        value = block.value[:, first:]
        rows, cols = np.nonzero(block.present[:, first:] & block.usable[:, first:] & np.isfinite(value))
        return DerivedReadings(
            ts=block.ts[:, first:][rows, cols],
            channel=(cols + first).astype(np.int32),
            value=value[rows, cols],
            quality=block.quality[:, first:][rows, cols],
        )

    def _remember(self, block: Block) -> None:
        """Per-channel latest reading, for views (raw and derived channels alike)."""
        st = self.state
        count = block.present.sum(axis=0)
        cols = np.flatnonzero(count)
        last = count[cols] - 1
        st.last_ts[cols] = block.ts[last, cols]
        st.last_value[cols] = block.value[last, cols]
        st.last_quality[cols] = block.quality[last, cols]
        st.readings[cols] += count[cols]
        good_rows = np.where(block.usable, np.arange(block.rows)[:, None], -1).max(axis=0)
        good = np.flatnonzero(good_rows >= 0)
        st.last_good_ts[good] = block.ts[good_rows[good], good]

    def _rows(self, parts: list[tuple[int, TableResult]]) -> TableResult:
        """The judges' changes with rows numbered as bindings (each judge's in its own time order)."""
        parts = [(i, p) for i, p in parts if len(p)]
        if not parts:
            return TableResult.empty()
        found = TableResult.concat([p for _, p in parts])
        rows = np.concatenate([p.row + self._offsets[i] for i, p in parts]).astype(np.intp)
        return TableResult(rows, *(getattr(found, name) for name in TableResult.__slots__[1:]))

    def _out(self, found: TableResult) -> Transitions:
        if not len(found):
            return _empty_transitions()
        binding = found.row
        # Ties in time are broken by binding; within a binding the tables keep time order.
        order = np.lexsort((binding, found.ts))
        self.chatter.observe(found.ts[order], binding[order], (found.new_grade > found.old_grade)[order])
        return Transitions(
            ts=found.ts[order],
            binding=binding[order],
            old_grade=found.old_grade[order],
            new_grade=found.new_grade[order],
            value=found.value[order],
            limit=found.limit[order],
            upward=found.upward[order],
            time_to_limit_s=found.time_to_limit_s[order],
            failure_time=found.failure_time[order],
            detail=found.detail[order],
        )


def _concat_derived(parts: list[DerivedReadings]) -> DerivedReadings:
    parts = [p for p in parts if len(p)]
    if not parts:
        return DerivedReadings.empty()
    ts = np.concatenate([p.ts for p in parts])
    channel = np.concatenate([p.channel for p in parts])
    order = np.lexsort((channel, ts))
    return DerivedReadings(
        ts[order],
        channel[order],
        np.concatenate([p.value for p in parts])[order],
        np.concatenate([p.quality for p in parts])[order],
    )


def _cat(arrays: list[npt.NDArray[Any]], dtype: type) -> npt.NDArray[Any]:
    return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype=dtype)


def _take(t: Transitions, index: npt.NDArray[np.intp]) -> Transitions:
    return Transitions(*(getattr(t, name)[index] for name in Transitions.__slots__))


def _with_settled(t: Transitions, s: Settled) -> Transitions:
    nan = np.full(len(s), np.nan)
    parts = {
        "ts": s.ts, "binding": s.binding, "old_grade": s.old_grade, "new_grade": s.new_grade,
        "value": s.value, "limit": s.limit, "upward": s.upward, "time_to_limit_s": nan,
        "failure_time": nan, "detail": np.full((len(s), DETAIL_SLOTS), np.nan),
    }  # fmt: skip
    both = Transitions(*(np.concatenate([getattr(t, k), parts[k]]) for k in Transitions.__slots__))
    return _take(both, np.lexsort((both.binding, both.ts)))


def _empty_transitions() -> Transitions:
    f = np.zeros(0)
    return Transitions(
        ts=f,
        binding=np.zeros(0, dtype=np.intp),
        old_grade=np.zeros(0, dtype=np.int8),
        new_grade=np.zeros(0, dtype=np.int8),
        value=f.copy(),
        limit=f.copy(),
        upward=np.zeros(0, dtype=bool),
        time_to_limit_s=f.copy(),
        failure_time=f.copy(),
    )
