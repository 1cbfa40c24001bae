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
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from analytics.table import Block

T = TypeVar("T", bound=np.generic)
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
IDX = npt.NDArray[np.intp]
BOOL = npt.NDArray[np.bool_]

NEVER = np.iinfo(np.int64).min // 4  # slot number of "no slot yet"
MAD_SCALE = 1.4826  # MAD → standard deviation for normal data
MEAN_AD_SCALE = 1.2533  # mean absolute deviation → standard deviation for normal data
GOLDEN = 0.6180339887498949
SUMS = ("n", "sx", "sv", "sxx", "sxv", "svv")


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

    def newest(self, rows: IDX) -> IDX:
        return (self.head[rows] - 1) % self.capacity

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
    first: dict[str, F64]  # sums of the opening sample alone
    full: dict[str, F64]  # sums of every sample of the slot in this block

    def __len__(self) -> int:
        return len(self.row)


@dataclass(slots=True)
class Window:
    """Slot sums of evaluation windows: column 0 is the evaluating sample, then older slots."""

    sid: I64  # (E, L)
    sums: dict[str, F64]  # (E, L) each
    valid: BOOL  # (E, L) the column holds a slot


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
        fields: dict[str, tuple[type, float | int]] = {"sid": (np.int64, NEVER)}
        fields.update({name: (np.float64, 0.0) for name in SUMS})
        self.ring = Ring(m, capacity, fields)
        self.last_sid = np.full(m, NEVER, dtype=np.int64)
        self.v0 = np.full(m, np.nan)  # per-row value origin, keeps the sums well conditioned

    def slot_of(self, ts: F64, rows: IDX | slice) -> I64:
        return np.floor((ts - self.phase_s[rows]) / self.slot_s[rows]).astype(np.int64)

    def slot_start(self, sid: I64, rows: IDX | slice) -> F64:
        return np.asarray(self.phase_s[rows] + sid * self.slot_s[rows], dtype=np.float64)

    def segment(self, block: Block) -> Segments:
        """Split the block into slots; merge samples that continue the newest slot into the ring."""
        ch = self.channel
        m = len(ch)
        ts = block.ts[:, ch]
        v = block.value[:, ch]
        ok = block.usable[:, ch] & np.isfinite(v) & np.isfinite(ts)
        k_rows = ts.shape[0]
        if k_rows == 0 or m == 0:
            return _no_segments(m)
        any_ok = ok.any(axis=0)
        fresh = np.flatnonzero(any_ok & np.isnan(self.v0))
        if len(fresh):
            first = np.argmax(ok[:, fresh], axis=0)
            self.v0[fresh] = v[first, fresh]

        all_rows = slice(None)
        with np.errstate(invalid="ignore"):
            sid = np.where(ok, self.slot_of(np.where(ok, ts, 0.0), all_rows), NEVER)
        running = np.maximum.accumulate(sid, axis=0)
        before = np.empty_like(sid)
        before[0] = self.last_sid
        np.maximum(running[:-1], self.last_sid[None, :], out=before[1:])
        opens = ok & (sid > before)

        x = np.where(ok, ts - self.slot_start(np.where(ok, sid, 0), all_rows), 0.0)
        dv = np.where(ok, v - self.v0, 0.0)
        contrib = {
            "n": ok.astype(np.float64),
            "sx": x,
            "sv": dv,
            "sxx": x * x,
            "sxv": x * dv,
            "svv": dv * dv,
        }
        cum = {name: np.cumsum(a, axis=0) for name, a in contrib.items()}

        # Samples before the row's first opening sample continue its newest slot.
        first_open = np.where(opens.any(axis=0), np.argmax(opens, axis=0), k_rows)
        upto_all = np.maximum(first_open - 1, 0)
        cont = np.flatnonzero((first_open > 0) & (cum["n"][upto_all, np.arange(m)] > 0))
        if len(cont):
            upto = upto_all[cont]
            pos = self.ring.newest(cont)
            for name in SUMS:
                sums: F64 = self.ring.data[name]  # type: ignore[assignment]
                sums[cont, pos] += cum[name][upto, cont]

        row, k = np.nonzero(opens.T)
        g = len(row)
        per_row = np.bincount(row, minlength=m).astype(np.intp)
        row_start = np.cumsum(per_row) - per_row
        rank = np.arange(g) - row_start[row]
        next_k = np.full(g, k_rows, dtype=np.intp)
        if g > 1:
            same = row[1:] == row[:-1]
            next_k[:-1] = np.where(same, k[1:], k_rows)
        end = next_k - 1
        full = {}
        first_sums = {}
        for name in SUMS:
            c = cum[name]
            before_sum = np.where(k > 0, c[np.maximum(k - 1, 0), row], 0.0)
            full[name] = c[end, row] - before_sum
            first_sums[name] = contrib[name][k, row]
        return Segments(
            row=row.astype(np.intp),
            rank=rank.astype(np.intp),
            per_row=per_row,
            k=k.astype(np.intp),
            sid=sid[k, row],
            ts=ts[k, row],
            value=v[k, row],
            first=first_sums,
            full=full,
        )

    def window(self, seg: Segments, index: IDX, width: int) -> Window:
        """For the segments ``index``: the evaluating sample, the ring's slots from before the block
        (whole rows, in ring order) and up to ``width`` slots opened earlier in the block.

        Columns are not in time order; callers select them by slot number.
        """
        rows = seg.row[index]
        rank = seg.rank[index]
        e = len(index)
        cap = self.ring.capacity
        nb = int(min(width, int(rank.max()))) if e else 0
        cols = 1 + cap + nb
        sid = np.empty((e, cols), dtype=np.int64)
        sid[:, 0] = seg.sid[index]
        sid[:, 1 : cap + 1] = np.take(self.ring.data["sid"], rows, axis=0)
        sums = {name: np.empty((e, cols)) for name in SUMS}
        for name in SUMS:
            out = sums[name]
            out[:, 0] = seg.first[name][index]
            out[:, 1 : cap + 1] = np.take(self.ring.data[name], rows, axis=0)
        if nb:
            d = np.arange(1, nb + 1)
            from_block = d[None, :] <= rank[:, None]
            block_index = np.where(from_block, index[:, None] - d[None, :], 0)
            sid[:, cap + 1 :] = np.where(from_block, seg.sid[block_index], NEVER)
            for name in SUMS:
                sums[name][:, cap + 1 :] = seg.full[name][block_index]
        return Window(sid=sid, sums=sums, valid=sid != NEVER)

    def commit(self, seg: Segments) -> None:
        """Store the block's slots; call after every window of the block was read."""
        if len(seg) == 0:
            return
        items: dict[str, npt.NDArray[np.generic]] = {"sid": seg.sid, **seg.full}
        self.ring.append(seg.row, seg.rank, seg.per_row, items)
        last = np.flatnonzero(seg.per_row)
        ends = np.cumsum(seg.per_row)[last] - 1
        self.last_sid[last] = seg.sid[ends]


def _no_segments(m: int) -> Segments:
    e = np.zeros(0, dtype=np.intp)
    f = np.zeros(0)
    return Segments(
        row=e, rank=e.copy(), per_row=np.zeros(m, dtype=np.intp), k=e.copy(),
        sid=np.zeros(0, dtype=np.int64), ts=f, value=f.copy(),
        first={name: f.copy() for name in SUMS}, full={name: f.copy() for name in SUMS},
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


def row_median(x: F64) -> F64:
    """Median of each row ignoring NaN (NaN for an all-NaN row), by one sort."""
    s = np.sort(x, axis=1)
    count = np.sum(~np.isnan(x), axis=1)
    r = np.arange(len(x))
    lo = s[r, np.maximum((count - 1) // 2, 0)]
    hi = s[r, np.minimum(count // 2, x.shape[1] - 1)]
    return np.where(count > 0, 0.5 * (lo + hi), np.nan)


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
    s = win.sums
    n = s["n"]
    use = use & (n > 0)
    delta = (win.sid - sid_ref[:, None]).astype(np.float64) * slot_s[:, None]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean_v = s["sv"] / n
        mean_v[~use] = np.nan
        med = row_median(mean_v)
        dev = np.abs(mean_v - med[:, None])
        mad = row_median(dev)
        count = np.maximum(np.sum(use, axis=1), 1)
        mean_ad = np.sum(dev, axis=1, where=use) / count
        scale = np.where(mad > 0, MAD_SCALE * mad, MEAN_AD_SCALE * mean_ad)
        keep = use & (dev <= (hampel_k * scale)[:, None])

        nd = n * delta
        big_n = np.sum(n, axis=1, where=keep)
        sx = np.sum(s["sx"] + nd, axis=1, where=keep)
        sv = np.sum(s["sv"], axis=1, where=keep)
        sxx = np.sum(s["sxx"] + delta * (2.0 * s["sx"] + nd), axis=1, where=keep)
        sxv = np.sum(s["sxv"] + delta * s["sv"], axis=1, where=keep)
        svv = np.sum(s["svv"], axis=1, where=keep)
        safe_n = np.where(big_n > 0, big_n, 1.0)
        xm = sx / safe_n
        vm = sv / safe_n
        cxx = sxx - sx * xm
        cxv = sxv - sx * vm
        cvv = np.maximum(svv - sv * vm, 0.0)
        oldest = np.min(win.sid, axis=1, where=keep, initial=np.iinfo(np.int64).max)
        newest = np.max(win.sid, axis=1, where=keep, initial=NEVER)
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
