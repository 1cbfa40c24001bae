"""Data quality: a spike screen, and alarms on silent, stuck, out-of-range and spiking channels.

A reading that is not usable must never feed a value or trend rule: the ``SpikeScreen`` runs first on
every block and clears ``usable`` for readings that jump away from their channel's recent level (a
causal Hampel filter). The ``QualityTable`` then judges, per (rule, channel, check):

- ``silent``: nothing heard from the channel for ``silent_s``. Any reading the device sent with a
  number counts, whatever its quality (out of range, held as a spike): not a message without one
  (null, NaN: the sensor said nothing), nor the gateway's record of a poll the device did not answer
  (BAD_COMM). Raised at last heard + silent_s in data time, seen
  from the gap before the next heard reading or from ``tick(now)``; cleared by the next heard one.
- ``stuck``: the usable readings have stayed within ``stuck_tolerance`` of each other for at least
  ``stuck_window_s`` and ``stuck_min_samples`` readings; cleared by a reading that breaks the band.
- ``out_of_range``: a reading flagged BAD_RANGE raises it; the next in-range reading clears it.
- ``spike``: the screen found a held reading to be a spike (at the next usable reading); cleared
  after ``spike_window`` clean usable readings.

Every check is binary: its row sits at the rule's ``grade`` while raised, 0 otherwise.
Pure numpy: no I/O, no clock; time comes with the data (and with ``tick``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from analytics.iir import lfilter
from analytics.table import F64, I8, IDX, Block, TableResult, columns, result
from gateway.vocab.quality_bits import Quality

BAD_COMM = Quality.BAD_COMM  # the gateway's record of a poll the device did not answer
BAD_VALUE = Quality.BAD_VALUE
BAD_RANGE = Quality.BAD_RANGE

CHECKS = ("silent", "stuck", "out_of_range", "spike")
SILENT, STUCK, OUT_OF_RANGE, SPIKE = range(4)

# Fields of QualitySpec named as in gateway.config.rule_config.QualityRuleConfig, so the glue can pass
# ``{name: getattr(config, name) for name in QUALITY_PARAMS}``.
QUALITY_PARAMS = (
    "silent_s",
    "stuck_window_s",
    "stuck_min_samples",
    "stuck_tolerance",
    "out_of_range",
    "spike_k",
    "spike_window",
    "spike_min_jump",
    "grade",
)

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
MEAN_AD_TO_SIGMA = 1.2533  # the same for the mean absolute deviation
LONG_RUN_WINDOWS = 4  # the spike screen's long-run deviation spans about this many windows
# Cap on the elements of one (rows, bindings, window) median computation; larger blocks are chunked.
# Large blocks are worked through in slices of time rows so temporaries stay near the cache; the
# result does not depend on how a block is cut, so this changes nothing but speed.
_CHUNK_ELEMENTS = 1 << 18

B = npt.NDArray[np.bool_]
_A = TypeVar("_A", bound=npt.NDArray[Any])
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class QualitySpec:
    """One quality rule bound to some channels (column numbers). ``None`` switches a check off."""

    rule: int
    channels: I32
    silent_s: float | None = 600.0
    stuck_window_s: float | None = None
    stuck_min_samples: int = 10
    stuck_tolerance: float = 0.0
    out_of_range: bool = True
    spike_k: float | None = 6.0
    spike_window: int = 15
    spike_min_jump: float = 0.0
    grade: int = 1
    # Least scale of the spike screen per channel (sensor resolution or a share of the range);
    # None: no floor but spike_min_jump.
    spike_floor: F64 | None = None


def _bindings(specs: list[QualitySpec], enabled: list[bool]) -> tuple[I32, I32, IDX]:
    """(rule, channel, spec index) of every binding of the enabled specs, in spec order."""
    chosen = [(i, s) for i, s in enumerate(specs) if enabled[i]]
    counts = [len(s.channels) for _, s in chosen]
    if not chosen:
        return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.intp)
    rule = np.repeat(np.array([s.rule for _, s in chosen], dtype=np.int32), counts)
    channel = np.concatenate([np.asarray(s.channels, dtype=np.int32) for _, s in chosen])
    spec = np.repeat(np.array([i for i, _ in chosen], dtype=np.intp), counts)
    return rule, channel.astype(np.int32), spec


def _last_true_index(mask: B) -> I64:
    """For each (k, j): index of the last True at or before row k in column j, or -1."""
    k = mask.shape[0]
    idx = np.where(mask, np.arange(k, dtype=np.int64)[:, None], np.int64(-1))
    if k > 1:
        np.maximum.accumulate(idx, axis=0, out=idx)  # in place: no second (K, N) array
    return idx


def _at(a: _A, index: I64) -> _A:
    """a[index[k, j], j]: each column's entries at the given (non-negative) row numbers."""
    if a.shape[0] == 1 and index.shape[0] == 1:
        return a  # one row: every index is 0
    return cast(_A, np.take_along_axis(a, index, axis=0))


def _shift_down(a: _A, first: npt.ArrayLike) -> _A:
    """Rows moved down by one, with ``first`` as the new row 0 (the value before the block)."""
    out = np.empty_like(a)
    if len(a):
        out[0] = first
        out[1:] = a[:-1]
    return out


class SpikeScreen:
    """Causal Hampel filter per (rule, channel) binding of the quality rules that enable spikes.

    A usable reading x is a spike candidate when, against the median m of the binding's previous
    ``spike_window`` usable readings, |x - m| > threshold, with

        threshold = max(spike_k · scale, spike_min_jump)
        scale = max(1.4826·MAD, floor, 1.2533·(long-run mean absolute deviation))

    The floor (the sensor's resolution, or a share of the channel's range; per binding) keeps a flat
    channel (MAD 0) from calling every least step a spike. The long-run deviation (an exponential
    mean over about ``4·spike_window`` readings of the deviations, each clipped at the threshold the
    window alone gives) keeps a window whose MAD is small by chance from doing the same to ordinary
    noise: the MAD of 15 Gaussian readings is below half the true scale often enough to make a k=6
    screen call 0.15 % of pure noise a spike. The screen judges only once it has a full window.

    A candidate is held back (``found``: not usable) until the next usable reading decides it: a
    next reading that is a candidate on the same side confirms a step, and is used (so is every
    reading of the step that follows); one that is not makes the held reading a spike, noticed at
    the deciding reading (``notice``, with the held reading's deviation and threshold). So no
    reading is held back for more than one further reading, and a real step costs one reading.

    The window holds the channel's previous usable readings as they came into the screen, the
    held ones included (a textbook Hampel filter). That keeps it a function of the input alone,
    so it vectorises over time.
    """

    def __init__(self, specs: list[QualitySpec]) -> None:
        enabled = [s.spike_k is not None for s in specs]
        self.rule, self.channel, spec_of = _bindings(specs, enabled)
        r = len(self.channel)
        self.k = np.array([specs[i].spike_k for i in spec_of], dtype=np.float64).reshape(r)
        self.min_jump = np.array([specs[i].spike_min_jump for i in spec_of], dtype=np.float64).reshape(r)
        self.window = np.array([specs[i].spike_window for i in spec_of], dtype=np.intp).reshape(r)
        floors = [_floors(s) for s, on in zip(specs, enabled, strict=True) if on]
        self.floor = np.concatenate(floors) if floors else np.zeros(0)
        # Bindings grouped by window length: each group's history is one (W, R_g) array.
        self._groups: list[_SpikeGroup] = [
            _SpikeGroup(np.flatnonzero(self.window == w), int(w)) for w in np.unique(self.window)
        ]
        self._seen: F64 | None = None
        self.found = np.zeros((0, r), dtype=bool)
        self.notice = np.zeros((0, r), dtype=bool)
        self.deviation = np.zeros((0, r))
        self.threshold = np.zeros((0, r))

    def __len__(self) -> int:
        return len(self.channel)

    def screen(self, block: Block) -> None:
        k_rows, r = block.rows, len(self.channel)
        self.found = np.zeros((k_rows, r), dtype=bool)
        self.notice = np.zeros((k_rows, r), dtype=bool)
        self.deviation = np.full((k_rows, r), np.nan)
        self.threshold = np.full((k_rows, r), np.nan)
        self._seen = block.ts
        if k_rows == 0 or r == 0:
            return
        # Every binding judges the block as it came in, so bindings sharing a channel do not
        # depend on each other's verdicts.
        usable_in = block.usable.copy()
        step = max(1, _CHUNK_ELEMENTS // max(1, r * int(self.window.max())))
        for a in range(0, k_rows, step):
            b = min(k_rows, a + step)
            out = _Verdicts(self.found[a:b], self.notice[a:b], self.deviation[a:b], self.threshold[a:b])
            for group in self._groups:
                group.screen(self, block.value[a:b], usable_in[a:b], out)
        ks, rs = np.nonzero(self.found)
        block.usable[ks, self.channel[rs]] = False

    def spikes(self, block: Block) -> tuple[B, F64, F64]:
        """(notice, |deviation|, threshold), each (K, R), of the block this screen last screened:
        where a held reading was found to be a spike, with that reading's deviation and threshold."""
        if not len(self.channel):
            empty = np.zeros((block.rows, 0))
            return np.zeros((block.rows, 0), dtype=bool), empty, empty.copy()
        if self._seen is not block.ts:
            raise RuntimeError("SpikeScreen.screen(block) must run on this block before the judges")
        return self.notice, self.deviation, self.threshold


def _floors(spec: QualitySpec) -> F64:
    n = len(spec.channels)
    if spec.spike_floor is None:
        return np.zeros(n)
    return np.asarray(spec.spike_floor, dtype=np.float64).reshape(n)


@dataclass(slots=True)
class _Verdicts:
    """(K, R) slices a group writes its verdicts into."""

    found: B
    notice: B
    deviation: F64
    threshold: F64


class _SpikeGroup:
    """Bindings of one window length. ``history`` (R_g, W) is a ring of each binding's last W usable
    readings, written at ``head``; ``count`` says how much of it is filled. Median and MAD do not
    depend on order, so a streaming reading is judged against the ring as it stands. Also carried:
    the last usable reading's verdict (candidate, side, held) and the long-run deviation sums."""

    def __init__(self, rows: IDX, window: int) -> None:
        n = len(rows)
        self.rows = rows
        # The same rows as a slice when they are consecutive (one window length for all: the
        # usual case), so writing the verdicts back is a plain copy.
        consecutive = n > 0 and int(rows[-1]) - int(rows[0]) == n - 1
        self.cols: IDX | slice = slice(int(rows[0]), int(rows[-1]) + 1) if consecutive else rows
        self.w = window
        self.alpha = 1.0 / (LONG_RUN_WINDOWS * window)
        self.history = np.full((n, window), np.nan)
        self.head = np.zeros(n, dtype=np.int64)
        self.count = np.zeros(n, dtype=np.int64)
        self.cand = np.zeros(n, dtype=bool)
        self.side = np.zeros(n)
        self.held = np.zeros(n, dtype=bool)
        self.held_dev = np.full(n, np.nan)
        self.held_thr = np.full(n, np.nan)
        self.ew_dev = np.zeros(n)  # exponential sums of clipped deviations and of their weights
        self.ew_weight = np.zeros(n)
        # Scratch for streaming: sorting in place here spares a large allocation per block.
        self._sorted = np.empty((n, window))
        self._sorted_t = np.empty((window, n))

    def _long_scale(self, ew_dev: F64, ew_weight: F64) -> F64:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(ew_weight > 0, MEAN_AD_TO_SIGMA * ew_dev / ew_weight, 0.0)

    def screen(self, owner: SpikeScreen, block_value: F64, usable_in: B, out: _Verdicts) -> None:
        """Judge rows of a block; write verdicts into the (K, R) slices of ``out``."""
        rows, w = self.rows, self.w
        ch = owner.channel[rows]
        value = columns(block_value, ch)
        good = columns(usable_in, ch) & np.isfinite(value)
        k_rows, n = good.shape
        if k_rows == 1:
            self._one(owner, value[0], good[0], out)
            return
        # Usable readings first in each column, in time order: position j is the j-th usable one.
        n_good = good.sum(axis=0, dtype=np.int64)
        pos = np.arange(k_rows, dtype=np.int64)[:, None]
        real = pos < n_good
        # The usual case: each column's usable readings are already its first rows.
        order: IDX | None = None if np.array_equal(good, real) else np.argsort(~good, axis=0, kind="stable")
        packed = value if order is None else np.take_along_axis(value, order, axis=0)
        # History in time order, then the block's usable readings, time along axis 0 as in the
        # block: window j (rows j .. j + W - 1) precedes reading j (row W + j).
        oldest_first = (self.head[:, None] + np.arange(w)) % w
        seq = np.concatenate(
            [np.take_along_axis(self.history, oldest_first, axis=1).T, packed]
        )  # (W + K, R_g)
        judged = real & (self.count + pos >= w)  # (K, R_g)
        dev = np.full((k_rows, n), np.nan)
        side = np.zeros((k_rows, n))
        base = np.full((k_rows, n), np.nan)  # the window's own scale, floored
        windows = sliding_window_view(seq, w, axis=0)  # (K + 1, R_g, W): [j, :, i] is seq[j + i]
        step = max(1, _CHUNK_ELEMENTS // max(1, n * w))
        floor = owner.floor[rows]
        for start in range(0, k_rows, step):
            stop = min(k_rows, start + step)
            if not judged[start:stop].any():
                continue
            # Window position i of readings start .. stop - 1: one contiguous (rows, R_g) slice.
            med, mad = _median_mad_of([windows[start:stop, :, i].copy() for i in range(w)])
            diff = packed[start:stop] - med
            np.abs(diff, out=dev[start:stop])
            np.sign(diff, out=side[start:stop])
            np.maximum(MAD_TO_SIGMA * mad, floor, out=base[start:stop])
        k = owner.k[rows]
        # Long-run deviation before each reading: an exponential mean, decayed at every usable
        # reading, fed the judged ones (each clipped at the window's own threshold).
        a = self.alpha
        with np.errstate(invalid="ignore"):
            clipped = np.where(judged, np.fmin(dev, k * base), 0.0)
        after_dev = lfilter([a], [1.0, a - 1.0], clipped, axis=0, zi=((1.0 - a) * self.ew_dev)[None, :])[0]
        after_w = lfilter(
            [a], [1.0, a - 1.0], judged.astype(np.float64), axis=0, zi=((1.0 - a) * self.ew_weight)[None, :]
        )[0]
        before_dev = _shift_down(after_dev, self.ew_dev)
        before_w = _shift_down(after_w, self.ew_weight)
        scale = np.fmax(base, self._long_scale(before_dev, before_w))
        thr = np.maximum(k * scale, owner.min_jump[rows])
        with np.errstate(invalid="ignore"):
            cand = judged & (dev > thr)
        any_good = n_good > 0
        last = np.maximum(n_good - 1, 0)[None, :]
        if not cand.any() and not self.held.any():
            # The usual case, no candidate in the block and none held from before: nothing is held
            # or noticed (the verdicts keep their False and NaN), and the state is that of a clean
            # reading wherever there was one.
            for name, clean in (("cand", False), ("side", 0.0), ("held_dev", np.nan), ("held_thr", np.nan)):
                setattr(self, name, np.where(any_good, clean, getattr(self, name)))
            for name, arr in (("ew_dev", after_dev), ("ew_weight", after_w)):
                setattr(
                    self,
                    name,
                    np.where(any_good, np.take_along_axis(arr, last, axis=0)[0], getattr(self, name)),
                )
            self._keep_last(seq, n_good)
            return
        side = np.where(cand, side, 0.0)
        prev_cand = _shift_down(cand, self.cand)
        prev_side = _shift_down(side, self.side)
        confirms = cand & prev_cand & (side == prev_side)
        held = cand & ~confirms
        prev_held = _shift_down(held, self.held)
        notice = real & prev_held & ~confirms
        dev_held = np.where(held, dev, np.nan)
        thr_held = np.where(held, thr, np.nan)
        notice_dev = np.where(notice, _shift_down(dev_held, self.held_dev), np.nan)
        notice_thr = np.where(notice, _shift_down(thr_held, self.held_thr), np.nan)
        # Back from packed positions to the block's rows.
        for src, dst in ((held, out.found), (notice, out.notice), (notice_dev, out.deviation),
                         (notice_thr, out.threshold)):  # fmt: skip
            if order is None:
                dst[:, self.cols] = src
                continue
            back = np.zeros_like(src) if src.dtype == bool else np.full_like(src, np.nan)
            np.put_along_axis(back, order, src, axis=0)
            dst[:, self.cols] = back
        # State after the block: of the last usable reading, where there was one.
        for name, arr in (("cand", cand), ("side", side), ("held", held), ("held_dev", dev_held),
                          ("held_thr", thr_held), ("ew_dev", after_dev), ("ew_weight", after_w)):  # fmt: skip
            now = np.take_along_axis(arr, last, axis=0)[0]
            setattr(self, name, np.where(any_good, now, getattr(self, name)))
        self._keep_last(seq, n_good)

    def _keep_last(self, seq: F64, n_good: I64) -> None:
        """The last W usable readings of ``seq`` (history, then the block's) become the ring,
        oldest in slot 0."""
        w = self.w
        self.history[:] = np.take_along_axis(seq, n_good[None, :] + np.arange(w)[:, None], axis=0).T
        self.head[:] = 0
        self.count = np.minimum(self.count + n_good, w)

    def _one(self, owner: SpikeScreen, value: F64, good: B, out: _Verdicts) -> None:
        """One reading per binding at most (streaming): judge against the ring, then write it in."""
        rows, w = self.rows, self.w
        judged = good & (self.count >= w)
        n = len(rows)
        dev = np.full(n, np.nan)
        side = np.zeros(n)
        base = np.full(n, np.nan)
        if judged.any():
            lanes = np.flatnonzero(judged)
            m = len(lanes)
            work = self._sorted[:m]
            np.take(self.history, lanes, axis=0, out=work)
            work.sort(axis=1)
            work_t = self._sorted_t[:, :m]
            work_t[...] = work.T
            med, mad = _median_mad_sorted(work_t)
            diff = value[lanes] - med
            dev[lanes] = np.abs(diff)
            side[lanes] = np.sign(diff)
            base[lanes] = np.maximum(MAD_TO_SIGMA * mad, owner.floor[rows[lanes]])
        k = owner.k[rows]
        scale = np.fmax(base, self._long_scale(self.ew_dev, self.ew_weight))
        thr = np.maximum(k * scale, owner.min_jump[rows])
        with np.errstate(invalid="ignore"):
            cand = judged & (dev > thr)
            clipped = np.where(judged, np.fmin(dev, k * base), 0.0)
        side = np.where(cand, side, 0.0)
        confirms = cand & self.cand & (side == self.side)
        held = cand & ~confirms
        notice = good & self.held & ~confirms
        out.found[0, rows] = held
        out.notice[0, rows] = notice
        out.deviation[0, rows] = np.where(notice, self.held_dev, np.nan)
        out.threshold[0, rows] = np.where(notice, self.held_thr, np.nan)
        lanes = np.flatnonzero(good)
        a = self.alpha
        self.ew_dev[lanes] = (1.0 - a) * self.ew_dev[lanes] + a * clipped[lanes]
        self.ew_weight[lanes] = (1.0 - a) * self.ew_weight[lanes] + a * judged[lanes]
        self.cand[lanes] = cand[lanes]
        self.side[lanes] = side[lanes]
        self.held[lanes] = held[lanes]
        self.held_dev[lanes] = np.where(held, dev, np.nan)[lanes]
        self.held_thr[lanes] = np.where(held, thr, np.nan)[lanes]
        self.history[lanes, self.head[lanes]] = value[lanes]
        self.head[lanes] = (self.head[lanes] + 1) % w
        self.count[lanes] = np.minimum(self.count[lanes] + 1, w)


@functools.cache
def _sorting_network(n: int) -> tuple[tuple[int, int], ...]:
    """Comparators (i, j), i < j, of Batcher's odd-even merge sort for ``n`` inputs (the network for
    the next power of two, without the comparators of the missing inputs, which would sort last)."""
    p = 1
    while p < n:
        p *= 2
    out = []
    size = 1
    while size < p:
        k = size
        while k >= 1:
            for j in range(k % size, p - k, 2 * k):
                for i in range(min(k, p - j - k)):
                    if (i + j) // (size * 2) == (i + j + k) // (size * 2) and i + j + k < n:
                        out.append((i + j, i + j + k))
            k //= 2
        size *= 2
    return tuple(out)


def _median_mad_of(s: list[F64]) -> tuple[F64, F64]:
    """Median and MAD of windows given position by position (``s[i]``: every window's i-th value,
    one contiguous array of any shape each, as many as a window holds; sorted in place). Windows
    holding NaN give some number, as they did not come from a full window of usable readings.

    Each position one contiguous array over (bindings, windows), sorted by a sorting network: a
    minimum and a maximum over the whole array per comparator, which for windows of a few dozen
    values costs far less than sorting each window on its own.
    """
    spare = np.empty_like(s[0]) if s else np.empty(0)
    for i, j in _sorting_network(len(s)):
        np.minimum(s[i], s[j], out=spare)
        np.maximum(s[i], s[j], out=s[j])
        s[i], spare = spare, s[i]
    return _median_mad_sorted(s)


def _median_mad_sorted(s: F64 | list[F64]) -> tuple[F64, F64]:
    """Median and MAD along axis 0 of windows sorted along axis 0 (or of a list of the positions).

    In a sorted window the k readings nearest the median are contiguous, so the k-th smallest
    deviation is the least, over windows s[a : a + k], of the larger end deviation: no second sort.
    """
    w = len(s)
    h = w // 2
    if w % 2:
        med = s[h].copy()
        return med, _kth_deviation(s, med, h + 1)
    med = 0.5 * (s[h - 1] + s[h])
    return med, 0.5 * (_kth_deviation(s, med, h) + _kth_deviation(s, med, h + 1))


def _kth_deviation(s: F64 | list[F64], med: F64, k: int) -> F64:
    """k-th smallest |s - med| along axis 0 of sorted ``s``."""
    w = len(s)
    best = np.full(med.shape, np.inf)
    low, high = np.empty_like(best), np.empty_like(best)  # scratch, reused at every step
    for a in range(w - k + 1):
        np.subtract(med, s[a], out=low)
        np.subtract(s[a + k - 1], med, out=high)
        np.maximum(low, high, out=low)
        np.minimum(best, low, out=best)
    return best


@dataclass(slots=True)
class _Changes:
    row: list[IDX]
    old: list[I8]
    new: list[I8]
    ts: list[F64]
    value: list[F64]
    limit: list[F64]

    def add(self, row: IDX, raised: bool, grade: I8, ts: F64, value: F64, limit: F64) -> None:
        if not len(row):
            return
        zero = np.zeros(len(row), dtype=np.int8)
        self.row.append(row)
        self.old.append(zero if raised else grade)
        self.new.append(grade if raised else zero)
        self.ts.append(ts)
        self.value.append(value)
        self.limit.append(limit)

    def result(self) -> TableResult:
        if not self.row:
            return TableResult.empty()
        row = np.concatenate(self.row)
        ts = np.concatenate(self.ts)
        order = np.lexsort((row, ts))
        return result(
            row[order],
            np.concatenate(self.old)[order],
            np.concatenate(self.new)[order],
            ts[order],
            np.concatenate(self.value)[order],
            np.concatenate(self.limit)[order],
        )


def _changes() -> _Changes:
    return _Changes([], [], [], [], [], [])


class QualityTable:
    """Quality alarms, one row per (rule, channel, check) for the checks each rule enables.

    Build it from the same specs as its screen: ``table = QualityTable(specs)`` makes
    ``table.screen``, which the engine runs with the other screens before the judges.
    ``check`` gives each row's check number, ``check_name`` its name (``CHECKS``).
    """

    def __init__(self, specs: list[QualitySpec], screen: SpikeScreen | None = None) -> None:
        self.screen = SpikeScreen(specs) if screen is None else screen
        parts = []
        for code, enabled in (
            (SILENT, [s.silent_s is not None for s in specs]),
            (STUCK, [s.stuck_window_s is not None for s in specs]),
            (OUT_OF_RANGE, [s.out_of_range for s in specs]),
            (SPIKE, [s.spike_k is not None for s in specs]),
        ):
            rule, channel, spec = _bindings(specs, enabled)
            parts.append((code, rule, channel, spec))
        self.rule = np.concatenate([p[1] for p in parts]).astype(np.int32)
        self.channel = np.concatenate([p[2] for p in parts]).astype(np.int32)
        self.check = np.concatenate([np.full(len(p[1]), p[0], dtype=np.int8) for p in parts])
        self.check_name = np.array(CHECKS)[self.check.astype(np.intp)]
        spec_of = np.concatenate([p[3] for p in parts])
        m = len(self.channel)
        self.rule_grade = np.array([specs[i].grade for i in spec_of], dtype=np.int8).reshape(m)
        self._grade = np.zeros(m, dtype=np.int8)
        bounds = np.cumsum([0] + [len(p[1]) for p in parts])
        rows = [np.arange(bounds[i], bounds[i + 1], dtype=np.intp) for i in range(4)]
        specs_by = [spec_of[r] for r in rows]

        def values(check: int, name: str) -> list[float]:
            return [float(getattr(specs[i], name)) for i in specs_by[check]]

        def fparam(check: int, name: str) -> F64:
            return np.array(values(check, name), dtype=np.float64).reshape(len(rows[check]))

        def iparam(check: int, name: str) -> I64:
            return np.array(values(check, name), dtype=np.int64).reshape(len(rows[check]))

        self._silent = _Silent(rows[SILENT], self.channel[rows[SILENT]], fparam(SILENT, "silent_s"))
        self._stuck = _Stuck(
            rows[STUCK],
            self.channel[rows[STUCK]],
            fparam(STUCK, "stuck_window_s"),
            iparam(STUCK, "stuck_min_samples"),
            fparam(STUCK, "stuck_tolerance"),
        )
        self._range = _OutOfRange(rows[OUT_OF_RANGE], self.channel[rows[OUT_OF_RANGE]])
        spike_rows = rows[SPIKE]
        if not (
            np.array_equal(self.screen.channel, self.channel[spike_rows])
            and np.array_equal(self.screen.rule, self.rule[spike_rows])
        ):
            raise ValueError("the spike screen was built from other specs than this table")
        self._spike = _SpikeAlarm(spike_rows, self.channel[spike_rows], iparam(SPIKE, "spike_window"))

    def __len__(self) -> int:
        return len(self.channel)

    @property
    def grade(self) -> I8:
        return self._grade

    def evaluate(self, block: Block) -> TableResult:
        out = _changes()
        k_rows = block.rows
        if k_rows and len(self.channel):
            found, deviation, threshold = self.screen.spikes(block)
            step = max(1, _CHUNK_ELEMENTS // len(self.channel))
            for a in range(0, k_rows, step):
                b = min(k_rows, a + step)
                part = Block(
                    block.ts[a:b], block.value[a:b], block.present[a:b], block.usable[a:b], block.quality[a:b]
                )
                good = part.usable & np.isfinite(part.value)
                self._silent.evaluate(part, good, self, out)
                self._stuck.evaluate(part, good, self, out)
                self._range.evaluate(part, self, out)
                self._spike.evaluate(part, good, found[a:b], deviation[a:b], threshold[a:b], self, out)
        return self._applied(out.result())

    def tick(self, now: float) -> TableResult:
        out = _changes()
        self._silent.tick(now, self, out)
        return self._applied(out.result())

    def _applied(self, res: TableResult) -> TableResult:
        if len(res):
            # Each row's changes are in time order: its last one is its grade now.
            last = len(res) - 1 - np.unique(res.row[::-1], return_index=True)[1]
            self._grade[res.row[last]] = res.new_grade[last]
        return res


class _Silent:
    def __init__(self, rows: IDX, channel: I32, silent_s: F64) -> None:
        self.rows, self.ch, self.s = rows, channel, silent_s
        n = len(rows)
        # Time of the last reading heard; before any, of the first poll record or the first tick:
        # a channel that is never heard from is silent too.
        self.last_good = np.full(n, np.nan)
        self.raised = np.zeros(n, dtype=bool)
        self.raised_at = np.full(n, np.nan)

    def evaluate(self, block: Block, good_all: B, table: QualityTable, out: _Changes) -> None:
        if not len(self.rows):
            return
        ch = self.ch
        t = columns(block.ts, ch)
        del good_all  # silence is about hearing from the device, not about the reading's quality
        present = columns(block.present, ch)
        good = (
            present & np.isfinite(columns(block.value, ch)) & ((columns(block.quality, ch) & BAD_COMM) == 0)
        )
        ref = self.last_good.copy()
        arm = np.isnan(ref) & present.any(axis=0)
        first_present = np.argmax(present, axis=0)
        ref[arm] = t[first_present[arm], np.flatnonzero(arm)]

        n_good = good.sum(axis=0)
        if len(good) and np.array_equal(good, np.arange(len(good))[:, None] < n_good):
            # The usual case, every reading heard (a prefix of each column): the one before a
            # reading is the row above (values elsewhere are never read).
            prev_t = _shift_down(t, ref)
            first_good = np.zeros_like(good)
            first_good[0] = good[0]
            last_row = n_good - 1
        else:
            last = _last_true_index(good)
            prev = _shift_down(last, np.full(len(ch), -1, dtype=np.int64))
            prev_t = np.where(prev >= 0, _at(t, np.maximum(prev, 0)), ref)
            first_good = good & (prev < 0)
            last_row = last[-1]
        gap = t - prev_t
        with np.errstate(invalid="ignore"):
            long_gap = good & (gap > self.s)
        # Raised by a tick before this block: the first usable reading only clears it.
        clears_tick = first_good & self.raised
        raise_ev = long_gap & ~clears_tick
        clear_ev = long_gap | clears_tick
        grade = table.rule_grade[self.rows]

        k, j = np.nonzero(raise_ev)
        out.add(self.rows[j], True, grade[j], prev_t[k, j] + self.s[j], self.s[j].copy(), self.s[j].copy())
        k, j = np.nonzero(clear_ev)
        ts = t[k, j]
        from_tick = clears_tick[k, j]
        ts = np.where(from_tick, np.fmax(ts, self.raised_at[j]), ts)  # keep the row's changes in order
        out.add(self.rows[j], False, grade[j], ts, gap[k, j], self.s[j].copy())

        any_good = n_good > 0
        self.last_good = np.where(any_good, _at(t, np.maximum(last_row, 0)[None, :])[0], ref)
        self.raised &= ~any_good

    def tick(self, now: float, table: QualityTable, out: _Changes) -> None:
        if not len(self.rows):
            return
        self.last_good[np.isnan(self.last_good)] = now
        due = np.flatnonzero(~self.raised & (now - self.last_good > self.s))
        if not len(due):
            return
        at = self.last_good[due] + self.s[due]
        self.raised[due] = True
        self.raised_at[due] = at
        out.add(
            self.rows[due], True, table.rule_grade[self.rows[due]], at, self.s[due].copy(), self.s[due].copy()
        )


class _Stuck:
    """Runs of usable readings, cut greedily: a run goes on while its spread stays within the
    tolerance; the reading that would widen it beyond starts the next run. Stuck when the current run
    has lasted ``window_s`` and holds ``min_samples`` readings; cleared when a reading breaks it."""

    def __init__(self, rows: IDX, channel: I32, window_s: F64, min_samples: I64, tolerance: F64) -> None:
        self.rows, self.ch = rows, channel
        self.window_s, self.min_n, self.tol = window_s, min_samples, tolerance
        n = len(rows)
        self.start = np.full(n, np.nan)
        self.count = np.zeros(n, dtype=np.int64)
        self.low = np.full(n, np.inf)
        self.high = np.full(n, -np.inf)
        self.raised = np.zeros(n, dtype=bool)
        self.exact = tolerance == 0.0

    def evaluate(self, block: Block, good_all: B, table: QualityTable, out: _Changes) -> None:
        if not len(self.rows):
            return
        if block.rows <= 2:
            # A step or two: the row-by-row form is the cheaper one, and equals the exact form at
            # tolerance 0 (same state: low == high == the run's value).
            self._banded(np.arange(len(self.rows)), block, good_all, table, out)
            return
        exact = np.flatnonzero(self.exact)
        banded = np.flatnonzero(~self.exact)
        if len(exact):
            self._exact(exact, block, good_all, table, out)
        if len(banded):
            self._banded(banded, block, good_all, table, out)

    def _emit(
        self, sel: IDX, j: IDX, raised: bool, t: F64, value: F64, table: QualityTable, out: _Changes
    ) -> None:
        rows = self.rows[sel[j]]
        out.add(rows, raised, table.rule_grade[rows], t, value, self.window_s[sel[j]].copy())

    def _exact(self, sel: IDX, block: Block, good_all: B, table: QualityTable, out: _Changes) -> None:
        """Tolerance 0: runs of equal values, found for the whole block at once.

        Most rows cannot change in a block: not raised before, their usable readings the first rows
        of the column (nothing held back), and too few repeated values for any run to reach
        ``min_samples``. Those only carry their last run on (``_carry_runs``); the others are judged
        in full (``_exact_rows``).
        """
        ch = self.ch[sel]
        good = columns(good_all, ch)
        n_good = good.sum(axis=0)
        quiet = ~self.raised[sel] & (good == (np.arange(len(good))[:, None] < n_good)).all(axis=0)
        if not quiet.any():
            self._exact_rows(sel, block, good_all, table, out)
            return
        q = np.flatnonzero(quiet)
        v = columns(block.value, ch[q]) if len(q) < len(sel) else columns(block.value, ch)
        g = good[:, q] if len(q) < len(sel) else good
        s = sel[q]
        # A repeat: a usable reading equal to the usable one before it (the row above, or the last
        # one of the run carried in).
        repeat = np.zeros_like(g)
        np.equal(v[1:], v[:-1], out=repeat[1:])
        repeat[1:] &= g[1:]
        repeat[0] = g[0] & (self.count[s] > 0) & (v[0] == self.low[s])
        # No run can grow past the carried one plus every repeat of the block plus one.
        easy = self.count[s] + repeat.sum(axis=0) + 1 < self.min_n[s]
        if easy.any():
            e = np.flatnonzero(easy)
            self._carry_runs(s[e], columns(block.ts, ch[q[e]]), v[:, e], g[:, e], repeat[:, e], n_good[q[e]])
        hard = np.ones(len(sel), dtype=bool)
        hard[q[easy]] = False
        if hard.any():
            self._exact_rows(sel[hard], block, good_all, table, out)

    def _carry_runs(self, sel: IDX, t: F64, v: F64, good: B, repeat: B, n_good: I64) -> None:
        """The state after the block of rows that stay clear in it (see ``_exact``): the last run,
        from the last usable reading that is not a repeat (or carried on when there is none)."""
        has = n_good > 0
        if not has.any():
            return
        sel, t, v, good, repeat, n_good = (
            sel[has],
            t[:, has],
            v[:, has],
            good[:, has],
            repeat[:, has],
            n_good[has],
        )
        cols = np.arange(len(sel))
        starts = good & ~repeat
        last_start = np.where(starts, np.arange(len(good))[:, None], -1).max(axis=0)
        new = last_start >= 0
        at = np.maximum(last_start, 0)
        self.start[sel] = np.where(new, t[at, cols], self.start[sel])
        self.count[sel] = np.where(new, n_good - last_start, self.count[sel] + n_good)
        self.low[sel] = v[n_good - 1, cols]
        self.high[sel] = self.low[sel]

    def _exact_rows(self, sel: IDX, block: Block, good_all: B, table: QualityTable, out: _Changes) -> None:
        """``_exact`` for the rows ``sel``, in full."""
        ch = self.ch[sel]
        t = columns(block.ts, ch)
        v = columns(block.value, ch)
        good = columns(good_all, ch)
        n = len(sel)
        last = _last_true_index(good)
        prev = _shift_down(last, np.full(n, -1, dtype=np.int64))
        prev_v = np.where(prev >= 0, _at(v, np.maximum(prev, 0)), self.low[sel])
        had_run = (prev >= 0) | (self.count[sel] > 0)[None, :]
        breaks = good & had_run & (v != prev_v)
        starts = good & (breaks | ~had_run)
        # Run start (time and running count of usable readings) at each position.
        cum = np.cumsum(good, axis=0, dtype=np.int64)
        start_idx = _last_true_index(starts)
        in_new = start_idx >= 0
        safe = np.maximum(start_idx, 0)
        run_start = np.where(in_new, _at(t, safe), self.start[sel])
        before = np.where(in_new, _at(cum, safe) - 1, -self.count[sel])
        run_count = cum - before
        stuck_at = good & (run_count >= self.min_n[sel]) & (t - run_start >= self.window_s[sel])
        # State after each usable reading: raised if stuck there, cleared if it broke the run.
        raised_before = self.raised[sel]
        if stuck_at.any() or raised_before.any():
            event = stuck_at | breaks
            ev_idx = _last_true_index(event)
            state = np.where(ev_idx >= 0, _at(stuck_at, np.maximum(ev_idx, 0)), raised_before)
            before_state = _shift_down(state, raised_before)
            change = state != before_state
            k, j = np.nonzero(change & state)
            self._emit(sel, j, True, t[k, j], t[k, j] - run_start[k, j], table, out)
            k, j = np.nonzero(change & ~state)
            # On clearing, report how long the run that ended had lasted.
            prev_start = _shift_down(run_start, self.start[sel])
            self._emit(sel, j, False, t[k, j], t[k, j] - prev_start[k, j], table, out)
            raised_after = state[-1]
        else:  # the usual case: nothing stuck before or in the block, so nothing changes
            raised_after = raised_before

        any_good = good.any(axis=0)
        lr = np.maximum(last[-1], 0)[None, :]
        self.start[sel] = np.where(any_good, _at(run_start, lr)[0], self.start[sel])
        self.count[sel] = np.where(any_good, _at(run_count, lr)[0], self.count[sel])
        last_v = _at(v, lr)[0]
        self.low[sel] = np.where(any_good, last_v, self.low[sel])
        self.high[sel] = self.low[sel]
        self.raised[sel] = raised_after

    def _banded(self, sel: IDX, block: Block, good_all: B, table: QualityTable, out: _Changes) -> None:
        """Tolerance > 0: the greedy cut is sequential in time, so step through the block's rows."""
        ch = self.ch[sel]
        t_all = block.ts[:, ch]
        v_all = block.value[:, ch]
        good_all_c = good_all[:, ch]
        start, count = self.start[sel], self.count[sel]
        low, high, raised = self.low[sel], self.high[sel], self.raised[sel]
        tol, min_n, window = self.tol[sel], self.min_n[sel], self.window_s[sel]
        for k in np.flatnonzero(good_all_c.any(axis=1)):
            g = good_all_c[k]
            x, t = v_all[k], t_all[k]
            new_low = np.minimum(low, x)
            new_high = np.maximum(high, x)
            breaks = g & (count > 0) & (new_high - new_low > tol)
            extend = g & ~breaks
            clear = np.flatnonzero(breaks & raised)
            if len(clear):
                self._emit(sel, clear, False, t[clear], (t - start)[clear], table, out)
            start = np.where(breaks | (g & (count == 0)), t, start)
            count = np.where(breaks, 1, np.where(extend, count + 1, count))
            low = np.where(extend, new_low, np.where(breaks, x, low))
            high = np.where(extend, new_high, np.where(breaks, x, high))
            raised = raised & ~breaks
            stuck = g & ~raised & (count >= min_n) & (t - start >= window)
            up = np.flatnonzero(stuck)
            if len(up):
                self._emit(sel, up, True, t[up], (t - start)[up], table, out)
            raised = raised | stuck
        self.start[sel], self.count[sel] = start, count
        self.low[sel], self.high[sel], self.raised[sel] = low, high, raised


class _OutOfRange:
    def __init__(self, rows: IDX, channel: I32) -> None:
        self.rows, self.ch = rows, channel
        self.raised = np.zeros(len(rows), dtype=bool)

    def evaluate(self, block: Block, table: QualityTable, out: _Changes) -> None:
        if not len(self.rows):
            return
        ch = self.ch
        q = columns(block.quality, ch)
        v = columns(block.value, ch)
        present = columns(block.present, ch)
        bad = present & ((q & BAD_RANGE) != 0)
        if not self.raised.any() and not bad.any():
            return  # the usual case: nothing raised before or in the block, so nothing changes
        in_range = present & ~bad & ((q & BAD_VALUE) == 0) & np.isfinite(v)
        ev_idx = _last_true_index(bad | in_range)
        state = np.where(ev_idx >= 0, _at(bad, np.maximum(ev_idx, 0)), self.raised)
        change = state != _shift_down(state, self.raised)
        grade = table.rule_grade[self.rows]
        for raised in (True, False):
            k, j = np.nonzero(change & (state if raised else ~state))
            out.add(self.rows[j], raised, grade[j], block.ts[k, ch[j]], v[k, j], np.full(len(j), np.nan))
        self.raised = state[-1].copy()


class _SpikeAlarm:
    def __init__(self, rows: IDX, channel: I32, window: I64) -> None:
        self.rows, self.ch, self.window = rows, channel, window
        n = len(rows)
        self.raised = np.zeros(n, dtype=bool)
        self.clean = np.zeros(n, dtype=np.int64)  # clean usable readings since the last spike

    def evaluate(
        self,
        block: Block,
        good_all: B,
        found: B,
        deviation: F64,
        threshold: F64,
        table: QualityTable,
        out: _Changes,
    ) -> None:
        if not len(self.rows):
            return
        clean_all = columns(good_all, self.ch)
        # Rows without a spike in the block that were not raised stay clear and count clean readings.
        a = np.flatnonzero(found.any(axis=0) | self.raised)  # screen bindings are this check's rows
        clean_now = np.minimum(self.clean + clean_all.sum(axis=0, dtype=np.int64), self.window)
        if len(a) == 0:
            self.clean = clean_now
            return
        rows, window, raised = self.rows[a], self.window[a], self.raised[a]
        spike = found[:, a]
        cum = np.cumsum(clean_all[:, a], axis=0, dtype=np.int64)
        last_spike = _last_true_index(spike)
        since = np.where(
            last_spike >= 0,
            cum - _at(cum, np.maximum(last_spike, 0)),
            self.clean[a] + cum,
        )
        state = np.where(last_spike >= 0, True, raised) & (since < window)
        change = state != _shift_down(state, raised)
        grade = table.rule_grade[rows]
        t = block.ts[:, self.ch[a]]
        k, j = np.nonzero(change & state)
        out.add(rows[j], True, grade[j], t[k, j], deviation[k, a[j]], threshold[k, a[j]])
        k, j = np.nonzero(change & ~state)
        w = window[j].astype(np.float64)
        out.add(rows[j], False, grade[j], t[k, j], w, w.copy())
        self.raised[a] = state[-1]
        clean_now[a] = np.minimum(since[-1], window)
        self.clean = clean_now
