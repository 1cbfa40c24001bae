"""Robust trend over trailing windows, per row, carried from one block to the next.

A row (one rule bound to one channel) divides data time into slots of ``window_s / slots`` seconds
on a fixed grid (shifted by a per-row phase so rows do not all evaluate at the same instant). Each
slot keeps the sums of its usable samples (count, Σx, Σv, Σx², Σxv, Σv², with x the time since the
slot's start), so memory per row is ``slots`` entries whatever the sampling rate: a 1-day window on
1 Hz data holds 32 slots, not 86,400 samples.

A row is evaluated at every sample that opens a new slot. The window is then the slots of the last
``slots`` slot numbers, the newest holding only that sample:

- Hampel on the slot means: a slot whose mean lies outside median ± k·1.4826·MAD of the window's
  slot means is dropped (with a MAD of 0, the mean absolute deviation ×1.2533 stands in, so a single
  spike among equal values is still caught);
- ordinary least squares over every sample of the kept slots (exact, from the sums).

With sparse data (at most one sample per slot) this is the sample-level Hampel filter and fit; with
dense data a spike moves its slot's mean and the slot is dropped, and a spike screen upstream can
clear the sample itself. Everything is decided by data time, so the result does not depend on how
the stream is cut into blocks. State lives in preallocated (rows, capacity) arrays read by index
arithmetic; a block is processed with numpy over time and rows at once, without Python loops over
samples or rows.

Also here: vectorised scans (latches with hysteresis, run lengths) over per-row event sequences, the
building blocks of the trend tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from analytics.table import Block, columns

T = TypeVar("T", bound=np.generic)
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
IDX = npt.NDArray[np.intp]
BOOL = npt.NDArray[np.bool_]

NEVER = np.iinfo(np.int64).min // 4  # slot number of "no slot yet"
MAD_SCALE = 1.4826  # MAD → standard deviation for normal data
MEAN_AD_SCALE = 1.2533  # mean absolute deviation → standard deviation for normal data
GOLDEN = 0.6180339887498949
SUMS = ("n", "sx", "sv", "sxx", "sxv", "svv")  # fields of a slot's sums, last axis of every sums array
N, SX, SV, SXX, SXV, SVV = range(6)


def stagger(rows: int) -> F64:
    """Phase of each row's slot grid as a share of a slot, spread evenly (golden ratio)."""
    return np.asarray((np.arange(rows) * GOLDEN) % 1.0, dtype=np.float64)


class Ring:
    """Per-row circular buffers of the last ``capacity`` items, one (rows, capacity) array per field."""

    def __init__(self, rows: int, capacity: int, fields: dict[str, tuple[type, float | int]]) -> None:
        self.capacity = capacity
        self.data: dict[str, npt.NDArray[np.generic]] = {
            name: np.full((rows, capacity), fill, dtype=dtype) for name, (dtype, fill) in fields.items()
        }
        self.head = np.zeros(rows, dtype=np.intp)  # next write position
        self.count = np.zeros(rows, dtype=np.intp)  # items held (<= capacity)

    def previous(
        self,
        row: IDX,
        rank: IDX,
        item: IDX,
        items: dict[str, npt.NDArray[np.generic]],
        width: int,
    ) -> tuple[dict[str, npt.NDArray[np.generic]], BOOL]:
        """For new items (not yet appended), the ``width`` items before each, newest first.

        ``items`` holds a block's new items of all rows, grouped by row and in order within a row;
        ``item`` indexes the ones asked about, ``row`` and ``rank`` (position among its row's new
        items) describe them. Column d-1 is the d-th item before: a new item of the same row when
        d <= rank, else one from the ring.
        """
        d = np.arange(1, width + 1)
        from_block = d[None, :] <= rank[:, None]
        block_index = np.where(from_block, item[:, None] - d[None, :], 0)
        age = d[None, :] - rank[:, None]
        in_ring = ~from_block & (age <= self.count[row][:, None])
        ring_pos = (self.head[row][:, None] - age) % self.capacity
        out = {
            name: np.where(from_block, items[name][block_index], self.data[name][row[:, None], ring_pos])
            for name in self.data
        }
        return out, from_block | in_ring

    def append(self, row: IDX, rank: IDX, per_row: IDX, items: dict[str, npt.NDArray[np.generic]]) -> None:
        """Append new items (grouped by row, in order); ``per_row`` counts them for every row."""
        keep = rank >= per_row[row] - self.capacity
        r = row[keep]
        pos = (self.head[r] + rank[keep]) % self.capacity
        for name, array in self.data.items():
            array[r, pos] = items[name][keep]
        self.head = (self.head + per_row) % self.capacity
        self.count = np.minimum(self.count + per_row, self.capacity)


@dataclass(slots=True)
class Segments:
    """The slots a block opened, grouped by row and in time order (one per evaluation point)."""

    row: IDX  # (G,) table row
    rank: IDX  # (G,) position among the row's new slots in this block
    per_row: IDX  # (M,) new slots per row
    k: IDX  # (G,) block row of the sample that opened the slot
    sid: I64  # (G,) slot number
    ts: F64  # (G,) time of the opening sample
    value: F64  # (G,) value of the opening sample
    first: F64  # (G, 6) sums of the opening sample alone (fields as SUMS)
    full: F64  # (G, 6) sums of every sample of the slot in this block
    # Every row's slots in time order, laid end to end (filled by SlotWindows.window on first use):
    # for each row with new slots, the ring's older slots (oldest first, empty ones with sid NEVER),
    # the row's newest slot from before the block, then the block's; after all rows, ``first`` of
    # every segment.
    seq_sid: I64 | None = None
    seq_sums: F64 | None = None
    seq_pos: IDX | None = None  # (G,) position of each segment's slot in the sequence

    def __len__(self) -> int:
        return len(self.row)


@dataclass(slots=True)
class Window:
    """Slot sums of evaluation windows: column 0 is the evaluating sample, then the row's earlier
    slots, newest first (so slot numbers fall along a row; empty columns have sid NEVER, n 0)."""

    sid: I64  # (E, L)
    sums: F64  # (E, L, 6) fields as SUMS


class SlotWindows:
    """Slot sums of every row's recent slots, carried between blocks."""

    def __init__(
        self,
        channel: npt.NDArray[np.int32],
        slot_s: F64,
        capacity: int,
        phase: F64 | None = None,
    ) -> None:
        m = len(channel)
        self.channel = np.asarray(channel, dtype=np.intp)
        self.slot_s = np.asarray(slot_s, dtype=np.float64)
        self.phase_s = (stagger(m) if phase is None else np.asarray(phase)) * self.slot_s
        self.capacity = capacity  # slots held per row: the newest and ``hold`` older ones
        self.hold = max(capacity - 1, 1)
        # The newest slot of each row (slot number last_sid), still taking samples, kept apart so
        # that continuing it touches one compact array.
        self.last_sid = np.full(m, NEVER, dtype=np.int64)
        self.cur = np.zeros((m, len(SUMS)))
        # Ring of the older slots, flat: row r's are items r·hold .. r·hold + hold - 1; the next
        # write goes to r·hold + head[r]; empty items have sid NEVER and zero sums.
        self.sid = np.full(m * self.hold, NEVER, dtype=np.int64)
        self.sums = np.zeros((m * self.hold, len(SUMS)))
        self.head = np.zeros(m, dtype=np.intp)
        self.v0 = np.full(m, np.nan)  # per-row value origin, keeps the sums well conditioned

    def slot_of(self, ts: F64, rows: IDX | slice) -> I64:
        return np.floor((ts - self.phase_s[rows]) / self.slot_s[rows]).astype(np.int64)

    def slot_start(self, sid: I64, rows: IDX | slice) -> F64:
        return np.asarray(self.phase_s[rows] + sid * self.slot_s[rows], dtype=np.float64)

    def segment(self, block: Block) -> Segments:
        """Split the block into slots; merge samples that continue the newest slot into the ring.

        Works on the usable samples only, laid out by row then time (a 1-D sequence): a slot's
        samples are a run of it, summed with one ``bincount`` per field.
        """
        ch = self.channel
        m = len(ch)
        k_rows, n_cols = block.ts.shape
        if k_rows == 0 or m == 0:
            return _no_segments(m)
        ok = (
            columns(block.usable, ch)
            & np.isfinite(columns(block.value, ch))
            & np.isfinite(columns(block.ts, ch))
        )
        at = np.flatnonzero(ok.T)  # by row, then time
        if len(at) == 0:
            return _no_segments(m)
        r = at // k_rows
        k = at - r * k_rows
        src = k * n_cols + ch[r]
        t = np.take(block.ts, src)
        v = np.take(block.value, src)
        starts = np.empty(len(at), dtype=bool)  # first usable sample of its row
        starts[0] = True
        np.not_equal(r[1:], r[:-1], out=starts[1:])
        fresh = starts & np.isnan(self.v0[r])
        self.v0[r[fresh]] = v[fresh]

        phase = self.phase_s[r]
        slot = self.slot_s[r]
        sid = np.floor((t - phase) / slot).astype(np.int64)
        before = np.empty_like(sid)
        before[1:] = sid[:-1]
        before[starts] = NEVER
        if np.any(sid[1:] < before[1:]):  # time ran backwards within a row: running maximum
            _running_max(sid, before, starts)
        np.maximum(before, self.last_sid[r], out=before)
        opens = sid > before

        x = t - (phase + sid * slot)
        dv = v - self.v0[r]
        # Runs: a slot opened in the block, or the samples before a row's first opening sample
        # (they continue the row's newest slot, held in the ring).
        bounds = np.flatnonzero(opens | starts)  # where each run begins (runs are contiguous)
        n_runs = len(bounds)
        sums = np.empty((n_runs, len(SUMS)))
        sums[:-1, N] = np.diff(bounds)
        sums[-1, N] = len(at) - bounds[-1]
        for field, w in ((SX, x), (SV, dv), (SXX, x * x), (SXV, x * dv), (SVV, dv * dv)):
            sums[:, field] = np.add.reduceat(w, bounds)
        run_opens = opens[bounds]
        cont = r[bounds][~run_opens]
        if len(cont):  # a row's samples before its first opening sample: it has a slot already
            self.cur[cont] += sums[~run_opens]

        op = np.flatnonzero(opens)
        row = r[op]
        g = len(op)
        per_row = np.bincount(row, minlength=m).astype(np.intp)
        row_start = np.cumsum(per_row) - per_row
        first = np.empty((g, len(SUMS)))
        fx = x[op]
        fv = dv[op]
        first[:, N] = 1.0
        first[:, SX] = fx
        first[:, SV] = fv
        first[:, SXX] = fx * fx
        first[:, SXV] = fx * fv
        first[:, SVV] = fv * fv
        return Segments(
            row=row,
            rank=np.arange(g) - row_start[row],
            per_row=per_row,
            k=k[op],
            sid=sid[op],
            ts=t[op],
            value=v[op],
            first=first,
            full=sums[run_opens],
        )

    def _sequence(self, seg: Segments) -> tuple[I64, F64, IDX]:
        """Lay the rows' slots end to end in time order (see ``Segments``)."""
        if seg.seq_sid is not None and seg.seq_sums is not None and seg.seq_pos is not None:
            return seg.seq_sid, seg.seq_sums, seg.seq_pos
        hold = self.hold
        lead = hold + 1  # slots before a row's first new one: the ring, then the newest
        g = len(seg)
        active = np.flatnonzero(seg.per_row)
        a = len(active)
        ordinal = np.cumsum(seg.per_row > 0) - 1  # active-row ordinal of every row
        pos = np.arange(g) + lead * (ordinal[seg.row] + 1)
        first_at = np.cumsum(seg.per_row)[active] - seg.per_row[active] + lead * np.arange(a)
        ring_at = first_at[:, None] + np.arange(hold)
        oldest_first = (self.head[active][:, None] + np.arange(hold)) % hold + (hold * active)[:, None]
        total = g + lead * a
        seq_sid = np.empty(total, dtype=np.int64)
        seq_sid[ring_at] = np.take(self.sid, oldest_first)
        seq_sid[first_at + hold] = self.last_sid[active]
        seq_sid[pos] = seg.sid
        seq_sums = np.empty((total + g, len(SUMS)))
        seq_sums[ring_at] = np.take(self.sums, oldest_first, axis=0)
        seq_sums[first_at + hold] = self.cur[active]
        seq_sums[pos] = seg.full
        seq_sums[total:] = seg.first
        seg.seq_sid, seg.seq_sums, seg.seq_pos = seq_sid, seq_sums, pos
        return seq_sid, seq_sums, pos

    def window(self, seg: Segments, index: IDX, width: int) -> Window:
        """For the segments ``index``: the evaluating sample, then the ``width`` slots of its row
        before it (from the block or the ring), newest first. ``width`` is at most the capacity."""
        if width > self.hold + 1:
            raise ValueError("window wider than the ring")
        seq_sid, seq_sums, pos = self._sequence(seg)
        at = np.empty((len(index), width + 1), dtype=np.intp)
        at[:, 0] = len(seq_sid) + index
        np.subtract(pos[index][:, None], np.arange(1, width + 1), out=at[:, 1:])
        sums = np.take(seq_sums, at, axis=0)
        sid = np.take(seq_sid, at[:, 1:])
        sid = np.concatenate([seg.sid[index][:, None], sid], axis=1)
        return Window(sid=sid, sums=sums)

    def commit(self, seg: Segments) -> None:
        """Store the block's slots; call after every window of the block was read."""
        if len(seg) == 0:
            return
        hold = self.hold
        # A row's slots that stop being the newest: its newest from before, then all of the
        # block's but the last (the one at rank j goes to ring position head + j).
        keep = np.flatnonzero(seg.rank >= seg.per_row[seg.row] - hold)
        r = seg.row[keep]
        at = r * hold + (self.head[r] + seg.rank[keep]) % hold
        older = seg.rank[keep] == 0
        prev = np.maximum(keep - 1, 0)
        self.sid[at] = np.where(older, self.last_sid[r], seg.sid[prev])
        self.sums[at] = np.where(older[:, None], self.cur[r], seg.full[prev])
        self.head = (self.head + seg.per_row) % hold
        last = np.flatnonzero(seg.per_row)
        ends = np.cumsum(seg.per_row)[last] - 1
        self.last_sid[last] = seg.sid[ends]
        self.cur[last] = seg.full[ends]


def _running_max(sid: I64, before: I64, starts: BOOL) -> None:
    """``before``: the largest slot number earlier in the row (NEVER for a row's first sample)."""
    bounds = np.append(np.flatnonzero(starts), len(sid))
    for a, b in pairwise(bounds.tolist()):
        if b - a > 1:
            before[a + 1 : b] = np.maximum.accumulate(sid[a : b - 1])


def _no_segments(m: int) -> Segments:
    e = np.zeros(0, dtype=np.intp)
    f = np.zeros(0)
    return Segments(
        row=e, rank=e.copy(), per_row=np.zeros(m, dtype=np.intp), k=e.copy(),
        sid=np.zeros(0, dtype=np.int64), ts=f, value=f.copy(),
        first=np.zeros((0, len(SUMS))), full=np.zeros((0, len(SUMS))),
    )  # fmt: skip


@dataclass(slots=True)
class Fit:
    """Least-squares line through the inlier samples of each window."""

    slope: F64  # value units per second; NaN when the window had too few samples
    level: F64  # fitted value at the evaluating sample's time (v0 removed: add the row's v0)
    t_mean: F64  # mean time of the inlier samples, relative to the evaluating sample
    n: F64  # inlier samples
    r2: F64  # coefficient of determination of the line
    se: F64  # standard error of the slope


def sorted_median(s: F64, count: IDX) -> F64:
    """Median of the first ``count`` values of each sorted row (NaN for none)."""
    lo = np.take_along_axis(s, np.maximum((count - 1) // 2, 0)[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(s, np.minimum(count // 2, s.shape[1] - 1)[:, None], axis=1)[:, 0]
    return np.where(count > 0, 0.5 * (lo + hi), np.nan)


def row_median(x: F64) -> F64:
    """Median of each row ignoring NaN (NaN for an all-NaN row), by one sort."""
    return sorted_median(np.sort(x, axis=1), np.sum(~np.isnan(x), axis=1))


def robust_fit(
    win: Window,
    use: BOOL,
    slot_s: F64,
    sid_ref: I64,
    x_eval: F64,
    hampel_k: F64,
    min_samples: F64,
    min_span_s: F64 | float = 0.0,
) -> Fit:
    """Hampel on slot means, then least squares over the samples of the kept slots.

    ``use`` selects the window's columns; sums are shifted from each slot's start to the start of
    slot ``sid_ref``; ``x_eval`` is the evaluating sample's time from that origin. Windows with
    fewer than ``min_samples`` inlier samples, or whose kept slots span less than ``min_span_s``
    (from the start of the oldest to the end of the newest), get a NaN slope: a rate over a day is
    not judged from the first minutes of data.
    """
    a = win.sums
    e, width = win.sid.shape
    n = a[..., N]
    use = use & (n > 0)
    count = np.count_nonzero(use, axis=1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        # Hampel: unused columns get +inf, so they sort last and never pass the test.
        mean_v = np.divide(a[..., SV], n, out=np.full((e, width), np.inf), where=use)
        med = sorted_median(np.sort(mean_v, axis=1), count)
        dev = np.abs(mean_v - med[:, None])
        mad = sorted_median(np.sort(dev, axis=1), count)
        mean_ad = np.where(use, dev, 0.0) @ np.ones(width) / np.maximum(count, 1)
        scale = np.where(mad > 0, MAD_SCALE * mad, MEAN_AD_SCALE * mean_ad)
        keep = use & (dev <= (hampel_k * scale)[:, None])

        # Sums over the kept slots, shifted by u slots (u <= 0) to slot sid_ref's start:
        # x -> x + u·s, so Σx += s·Σu·n, Σx² += 2s·Σu·x + s²·Σu²·n, Σxv += s·Σu·v.
        weights = np.empty((e, 3, width))
        weights[:, 0] = keep
        u = (win.sid - sid_ref[:, None]).astype(np.float64)
        np.multiply(weights[:, 0], u, out=weights[:, 1])
        np.multiply(weights[:, 1], u, out=weights[:, 2])
        p = weights @ a
        big_n = p[:, 0, N]
        s = slot_s
        sx = p[:, 0, SX] + s * p[:, 1, N]
        sv = p[:, 0, SV]
        sxx = p[:, 0, SXX] + s * (2.0 * p[:, 1, SX] + s * p[:, 2, N])
        sxv = p[:, 0, SXV] + s * p[:, 1, SV]
        svv = p[:, 0, SVV]
        safe_n = np.where(big_n > 0, big_n, 1.0)
        xm = sx / safe_n
        vm = sv / safe_n
        cxx = sxx - sx * xm
        cxv = sxv - sx * vm
        cvv = np.maximum(svv - sv * vm, 0.0)
        # Columns are newest first: the first kept is the newest, the last kept the oldest.
        rows = np.arange(e)
        newest = win.sid[rows, np.argmax(keep, axis=1)]
        oldest = win.sid[rows, width - 1 - np.argmax(keep[:, ::-1], axis=1)]
        span = (newest - oldest + 1).astype(np.float64) * slot_s
        good = (big_n >= np.maximum(min_samples, 2)) & (cxx > 0) & (span >= min_span_s)
        # Values equal up to rounding: the slope is exactly 0 (not a rounding-sized trend).
        flat = cvv <= 1e-12 * svv
        cxv = np.where(flat, 0.0, cxv)
        cvv = np.where(flat, 0.0, cvv)
        safe_cxx = np.where(cxx > 0, cxx, 1.0)
        slope = np.where(good, cxv / safe_cxx, np.nan)
        level = vm + slope * (x_eval - xm)
        r2 = np.where(cvv > 0, cxv * cxv / (safe_cxx * np.where(cvv > 0, cvv, 1.0)), 1.0)
        resid = np.maximum(cvv - slope * cxv, 0.0)
        se = np.where(big_n > 2, np.sqrt(resid / np.maximum(big_n - 2, 1) / safe_cxx), np.inf)
    return Fit(slope=slope, level=level, t_mean=xm - x_eval, n=big_n, r2=np.where(good, r2, np.nan), se=se)


# --- vectorised scans over per-row event sequences -------------------------------------------------
# Events are grouped by row and in time order within a row; ``start[i]`` is the index of the first
# event of event i's row in this block; ``init[i]`` is the row's state carried in from before.


def group_starts(row: IDX) -> IDX:
    """Index of the first event of each event's row (events grouped by row)."""
    n = len(row)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    new = np.ones(n, dtype=bool)
    new[1:] = row[1:] != row[:-1]
    return np.asarray(np.maximum.accumulate(np.where(new, np.arange(n), 0)), dtype=np.intp)


def latch(set_: BOOL, reset: BOOL, start: IDX, init: BOOL) -> BOOL:
    """A flag per event: on after a set, off after a reset (set wins), else as before."""
    n = len(set_)
    decisive = set_ | reset
    last = np.maximum.accumulate(np.where(decisive, np.arange(n), -1)) if n else np.zeros(0, np.intp)
    from_block = last >= start
    return np.where(from_block, set_[np.maximum(last, 0)], init)


def latch_grades(
    value: F64,
    limits: F64,
    hysteresis: F64,
    start: IDX,
    init: npt.NDArray[np.int8],
    upward: bool,
) -> npt.NDArray[np.int8]:
    """Grades with hysteresis along each row's events, as ``analytics.thresholds.graded`` step by step.

    ``limits`` and ``hysteresis`` are (E, 3) per event; NaN values hold the grade. Grade g is on
    when the value reaches limit g, off once it leaves the band limit g ± hysteresis; for limits
    in order the grades are nested, so the grade is the highest one on.
    """
    valid = ~np.isnan(value)
    v = value[:, None]
    with np.errstate(invalid="ignore"):
        if upward:
            reached = v >= limits
            held = v >= limits - hysteresis
        else:
            reached = v <= limits
            held = v <= limits + hysteresis
    grade = np.zeros(len(value), dtype=np.int8)
    for g in range(3):
        set_ = reached[:, g] & valid
        reset = ~held[:, g] & valid
        on = latch(set_, reset, start, init > g)
        grade = np.where(on, np.int8(g + 1), grade)
    return grade


def run_length(step: BOOL, start: IDX, init: IDX, restart: BOOL | None = None) -> IDX:
    """Length of the run of true ``step`` events ending at each event (0 where ``step`` is false).

    The first events of a row continue the carried run ``init``; a ``restart`` event starts a new
    run at 1 even when it follows a true step.
    """
    n = len(step)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    idx = np.arange(n)
    restart = np.zeros(n, dtype=bool) if restart is None else restart & step
    breaks = np.maximum.accumulate(np.where(~step | restart, idx, -1))
    from_block = breaks >= start
    b = np.maximum(breaks, 0)
    run = np.where(from_block, idx - breaks + restart[b], idx - start + 1 + init)
    return np.asarray(np.where(step, run, 0), dtype=np.intp)


def previous_in_row(x: npt.NDArray[T], start: IDX, carried: npt.NDArray[T]) -> npt.NDArray[T]:
    """Each event's predecessor in its row: the event before, or the carried value for the first."""
    out = np.empty_like(x)
    if len(x) == 0:
        return out
    out[1:] = x[:-1]
    first = start == np.arange(len(x))
    out[first] = carried[first]
    return out


def last_per_row(row: IDX, m: int) -> tuple[IDX, IDX]:
    """Rows that had events, and the index of each one's last event."""
    counts = np.bincount(row, minlength=m)
    rows = np.flatnonzero(counts)
    return rows, np.cumsum(counts)[rows] - 1
