"""The analytics core: readings in (arrays), alarm grade transitions out (arrays).

Pure computation: no I/O, no clock. Time comes in with the data, so the same engine serves the live
gateway (small batches as they arrive) and replay (whole arrays).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from analytics.rounds import occurrence_rank, round_slices, time_then_channel_order
from analytics.state import ChannelState
from analytics.thresholds import ThresholdSpec, ThresholdTable

# Quality bits, mirrored from gateway.models.Quality (analytics may not import the gateway).
BAD = 0x10
BAD_VALUE = 0x20
BAD_RANGE = 0x40


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

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(slots=True)
class EngineResult:
    quality: npt.NDArray[np.uint8]  # the batch's flags, with the core's own findings added
    accepted: npt.NDArray[np.bool_]  # readings the core took in order (not stale, not doubled)
    transitions: Transitions
    rejected: Counter[str] = field(default_factory=Counter)


class Engine:
    """Threshold alarms for every channel of a site, vectorised over channels."""

    def __init__(
        self,
        range_low: npt.NDArray[np.float64],
        range_high: npt.NDArray[np.float64],
        thresholds: list[ThresholdSpec],
    ) -> None:
        self.state = ChannelState(range_low, range_high)
        self.thresholds = ThresholdTable(thresholds)
        n = len(self.state)
        bound = self.thresholds.channel
        # A column of -1 (ChannelIndex.UNKNOWN) would silently index the last channel.
        if len(bound) and (int(bound.min()) < 0 or int(bound.max()) >= n):
            raise ValueError(f"threshold rule bound to a channel outside 0..{n - 1}")
        self._round_value = np.full(n, np.nan)
        self._round_ts = np.zeros(n)
        self._round_usable = np.zeros(n, dtype=bool)
        self.rejected_total: Counter[str] = Counter()

    @property
    def binding_channel(self) -> npt.NDArray[np.int32]:
        return self.thresholds.channel

    @property
    def binding_rule(self) -> npt.NDArray[np.int32]:
        return self.thresholds.rule

    def channel_grade(self) -> npt.NDArray[np.int8]:
        """Worst current grade of each channel over all its rules."""
        grade = np.zeros(len(self.state), dtype=np.int8)
        np.maximum.at(grade, self.thresholds.channel, self.thresholds.grade)
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
        n_channels = len(self.state)
        known = (channel >= 0) & (channel < n_channels) & np.isfinite(ts)
        if not known.all():
            rejected["unknown_channel_or_time"] += int((~known).sum())

        order = time_then_channel_order(ts, channel)
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
        rejected["non_finite"] += int(non_finite.sum())
        rejected["out_of_range"] += int(out_of_range.sum())

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
        rejected["duplicate_time"] += int(duplicate.sum())
        rejected["out_of_order"] += int(stale.sum())
        in_order = ~(duplicate | stale)

        quality[order] = s_q
        accepted = np.zeros(len(ts), dtype=bool)
        accepted[order[in_order]] = True

        keep = np.flatnonzero(in_order)
        transitions = self._evaluate(s_ts[keep], s_ch[keep], s_val[keep], s_q[keep])
        for key, count in rejected.items():
            if count:
                self.rejected_total[key] += count
        return EngineResult(quality, accepted, transitions, +rejected)

    def _evaluate(
        self,
        ts: npt.NDArray[np.float64],
        channel: npt.NDArray[np.int32],
        value: npt.NDArray[np.float64],
        quality: npt.NDArray[np.uint8],
    ) -> Transitions:
        st = self.state
        parts: list[Transitions] = []
        for pos in round_slices(occurrence_rank(channel)):
            ch = channel[pos]
            good = quality[pos] < BAD
            st.last_ts[ch] = ts[pos]
            st.last_value[ch] = value[pos]
            st.last_quality[ch] = quality[pos]
            st.readings[ch] += 1
            st.last_good_ts[ch[good]] = ts[pos][good]

            self._round_usable[:] = False
            self._round_usable[ch[good]] = True
            self._round_value[ch] = value[pos]
            self._round_ts[ch] = ts[pos]
            t = self.thresholds.evaluate(self._round_value, self._round_usable)
            if len(t.binding):
                bound_ch = self.thresholds.channel[t.binding]
                parts.append(
                    Transitions(
                        ts=self._round_ts[bound_ch].copy(),
                        binding=t.binding,
                        old_grade=t.old_grade,
                        new_grade=t.new_grade,
                        value=self._round_value[bound_ch].copy(),
                        limit=t.limit,
                        upward=t.upward,
                    )
                )
        return _merge_in_time_order(parts)


def _merge_in_time_order(parts: list[Transitions]) -> Transitions:
    if not parts:
        return Transitions(
            ts=np.zeros(0),
            binding=np.zeros(0, dtype=np.intp),
            old_grade=np.zeros(0, dtype=np.int8),
            new_grade=np.zeros(0, dtype=np.int8),
            value=np.zeros(0),
            limit=np.zeros(0),
            upward=np.zeros(0, dtype=bool),
        )
    merged = Transitions(
        ts=np.concatenate([p.ts for p in parts]),
        binding=np.concatenate([p.binding for p in parts]),
        old_grade=np.concatenate([p.old_grade for p in parts]),
        new_grade=np.concatenate([p.new_grade for p in parts]),
        value=np.concatenate([p.value for p in parts]),
        limit=np.concatenate([p.limit for p in parts]),
        upward=np.concatenate([p.upward for p in parts]),
    )
    # Ties in time are broken by binding, so the output does not depend on how the batch was cut.
    order = np.lexsort((merged.binding, merged.ts))
    return Transitions(
        ts=merged.ts[order],
        binding=merged.binding[order],
        old_grade=merged.old_grade[order],
        new_grade=merged.new_grade[order],
        value=merged.value[order],
        limit=merged.limit[order],
        upward=merged.upward[order],
    )
