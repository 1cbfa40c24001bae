"""Wind from an anemometer: running means, gust and level (GB/T 28591-2012), and the wind judge.

Means are **sample means**: the mean over a window W at a reading's time t is the plain mean of the
channel's usable readings with time in (t - W, t], the reading itself included. Anemometers are
polled at a fixed period, where a sample mean and a time-weighted mean agree; a sample mean needs no
assumption about how the wind behaved between readings. Unusable readings (bad quality, spikes,
NaN) are left out of every window. Windows shorter than their length at start-up or after a gap
hold whatever readings they have (at least the current one).

- 3-s mean: W = 3 s (the "instantaneous" wind of weather stations);
- 2-min and 10-min means: W = 120 s and 600 s;
- gust (极大风速): the largest 3-s mean of the readings in (t - 600 s, t];
- level: the GB/T 28591-2012 level of the 2-min mean (the mean wind force stations report).

A speed belongs to the highest level whose lower bound (table, 0.1 m/s steps) it reaches, so 10.7 is
level 5, 10.75 still level 5 and 10.8 level 6 (JGJ 276: "level 6, >= 10.8 m/s"). Bounds are met
within ``LEVEL_TOLERANCE`` so that a mean computed as 10.799999999 from 10.8 readings is level 6.

State between blocks: a ring buffer per wind channel of its usable readings of the last 10 minutes
(time, running sum, 3-s mean), so a window is a difference of running sums found by a vectorised
binary search on time, whatever the block size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.table import F64, I8, Block, TableResult, result

I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]

# Lower bounds (m/s) of levels 1..17, GB/T 28591-2012 Table 1; level 0 starts at 0.
LEVEL_FLOOR = np.array(
    [0.3, 1.6, 3.4, 5.5, 8.0, 10.8, 13.9, 17.2, 20.8, 24.5, 28.5, 32.7, 37.0, 41.5, 46.2, 51.0, 56.1]
)
LEVEL_TOLERANCE = 1e-6  # m/s; far below the table's 0.1 m/s step, far above rounding of the means

WINDOW_3S = 3.0
WINDOW_2MIN = 120.0
WINDOW_10MIN = 600.0
GUST_WINDOW = 600.0  # must be one of the mean windows: the ring keeps the longest of them
_WINDOWS = (WINDOW_3S, WINDOW_2MIN, WINDOW_10MIN)
# Running sums are re-based (exactly: Sterbenz) once they grow past this, so long runs keep precision.
_REBASE_AT = float(2**24)
# Up to this many readings per channel in a block the gust is a masked max per reading; above it a
# sparse table over the window is cheaper. Both are exact, so the choice never changes a result.
_SMALL_BLOCK = 8


def level_floor(level: int) -> float:
    """Lower bound (m/s) of a GB/T 28591 level: 0.0 for level 0, 10.8 for level 6, ..."""
    if not 0 <= level <= 17:
        raise ValueError(f"wind level {level} outside 0..17")
    return 0.0 if level == 0 else float(LEVEL_FLOOR[level - 1])


def wind_level(speed: npt.ArrayLike) -> F64:
    """GB/T 28591-2012 level (0..17, as float) of wind speeds in m/s; NaN stays NaN."""
    s = np.asarray(speed, dtype=np.float64)
    level = np.searchsorted(LEVEL_FLOOR - LEVEL_TOLERANCE, s, side="right").astype(np.float64)
    return np.where(np.isnan(s), np.nan, level)


# --- column helpers (also used by analytics.crane and analytics.combined) --------------------------


def bisect(key: Callable[[I64], F64], lo: I64, hi: I64, v: F64) -> I64:
    """Vectorised binary search over sorted keys: for each query q the first position i in
    [lo[q], hi[q]] with key(i) > v[q], given that every key before lo[q] is <= v[q] and every key
    from hi[q] on is > v[q]. ``key(i)`` returns one key per query (i is always a valid position)."""
    lo = np.asarray(lo, dtype=np.int64).copy()
    hi = np.asarray(hi, dtype=np.int64).copy()
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        safe = np.where(active, mid, 0)
        go_right = active & (key(safe) <= v)
        lo = np.where(go_right, mid + 1, lo)
        hi = np.where(active & ~go_right, mid, hi)


def gallop(key: Callable[[I64], F64], lo: I64, hi: I64, v: F64) -> I64:
    """As ``bisect``, but cheap when the answer is near ``lo``: probe lo, lo+1, lo+3, lo+7, ... first.
    A window start carried from the previous reading moves by a reading or two, so streaming pays
    one or two probes instead of a search over the whole window."""
    lo = np.asarray(lo, dtype=np.int64).copy()
    hi = np.asarray(hi, dtype=np.int64).copy()
    step = np.ones(len(lo), dtype=np.int64)
    growing = lo < hi
    while growing.any():
        probe = np.minimum(lo + step - 1, hi - 1)
        below = growing & (key(np.where(growing, probe, 0)) <= v)
        hi = np.where(growing & ~below, probe, hi)
        lo = np.where(below, probe + 1, lo)
        step <<= 1
        growing = below & (lo < hi)
    return bisect(key, lo, hi, v)


def compact(mask: BOOL) -> tuple[npt.NDArray[np.intp], I64]:
    """Row order that moves each column's True rows to the top (stable), and their counts."""
    order = np.argsort(~mask, axis=0, kind="stable")
    return order, mask.sum(axis=0).astype(np.int64)


def sorted_column_search(sorted_t: F64, n: I64, col: I64, v: F64) -> I64:
    """For queries (col, v): how many of the first n[col] rows of ``sorted_t[:, col]`` are <= v."""
    return bisect(lambda i: sorted_t[i, col], np.zeros(len(col), dtype=np.int64), n[col], v)


# --- ring buffer ------------------------------------------------------------------------------------


class _Ring:
    """A time-ordered history per column: logical entry i of column j sits at row (head[j] + i) % cap."""

    def __init__(self, width: int, fields: Sequence[str], capacity: int = 64) -> None:
        self.cap = capacity
        self.width = width
        self.head = np.zeros(width, dtype=np.int64)
        self.n = np.zeros(width, dtype=np.int64)
        self.t = np.full((capacity, width), np.nan)
        self.f = {name: np.full((capacity, width), np.nan) for name in fields}
        self.cols = np.arange(width, dtype=np.int64)

    def rows(self, i: I64, col: I64) -> I64:
        return (self.head[col] + i) % self.cap

    def get(self, name: str, i: I64, col: I64) -> F64:
        arr = self.t if name == "t" else self.f[name]
        return arr[self.rows(i, col), col]

    def count_le(self, col: I64, v: F64, lo: I64 | None = None, hi: I64 | None = None) -> I64:
        """Entries of column col with time <= v (they are the oldest ones); the answer is known to
        lie in [lo, hi] (default: [0, n]) and is searched from lo up."""
        lo = np.zeros(len(col), dtype=np.int64) if lo is None else lo
        hi = self.n[col] if hi is None else hi
        return gallop(lambda i: self.t[self.rows(i, col), col], lo, hi, v)

    def drop_oldest(self, k: I64) -> None:
        self.head = (self.head + k) % self.cap
        self.n = self.n - k

    def reserve(self, need: int) -> None:
        """Grow (rarely: the window holds more readings than ever before) to hold ``need`` per column."""
        if need <= self.cap:
            return
        new_cap = 1 << int(need - 1).bit_length()
        logical = (self.head[None, :] + np.arange(self.cap)[:, None]) % self.cap

        def grow(a: F64) -> F64:
            out = np.full((new_cap, self.width), np.nan)
            out[: self.cap] = a[logical, self.cols]
            return out

        self.t = grow(self.t)
        self.f = {name: grow(a) for name, a in self.f.items()}
        self.head[:] = 0
        self.cap = new_cap

    def append(self, t: F64, u: I64, **fields: F64) -> None:
        """Append rows r < u[j] of column j of the (K, width) arrays (compacted: live rows on top)."""
        r, c = np.nonzero(np.arange(t.shape[0])[:, None] < u[None, :])
        at = (self.head[c] + self.n[c] + r) % self.cap
        self.t[at, c] = t[r, c]
        for name, a in fields.items():
            self.f[name][at, c] = a[r, c]
        self.n = self.n + u


# --- deriver ----------------------------------------------------------------------------------------


class WindDeriver:
    """Fills the derived wind columns of each anemometer wind-speed channel.

    Every argument is an array of column numbers, one entry per wind channel: ``source`` the
    ``<dev>.wind_speed`` column, the others its ``<dev>.wind_3s``, ``.wind_2min``, ``.wind_10min``,
    ``.gust`` and ``.wind_level`` columns. A derived column gets one reading per source reading
    (same time, quality and presence); it is usable where the source reading is usable.
    """

    def __init__(
        self,
        source: npt.ArrayLike,
        wind_3s: npt.ArrayLike,
        wind_2min: npt.ArrayLike,
        wind_10min: npt.ArrayLike,
        gust: npt.ArrayLike,
        level: npt.ArrayLike,
    ) -> None:
        self.source = np.asarray(source, dtype=np.int64).reshape(-1)
        given = (wind_3s, wind_2min, wind_10min, gust, level)
        outs = [np.asarray(a, dtype=np.int64).reshape(-1) for a in given]
        w = len(self.source)
        if any(len(o) != w for o in outs):
            raise ValueError("every derived column array needs one entry per source column")
        every = np.concatenate([self.source, *outs])
        if len(np.unique(every)) != len(every):
            raise ValueError("source and derived columns must all be distinct")
        self.out_3s, self.out_2min, self.out_10min, self.out_gust, self.out_level = outs
        self._ring = _Ring(w, ("csum", "m3"))
        self._base = np.zeros(w)  # running sum up to (and including) the newest dropped entry
        self._carry = np.zeros(w)  # running sum up to the newest entry
        # Per window (3 s, 2 min, 10 min): logical ring index where the newest reading's window starts.
        self._start = np.zeros((len(_WINDOWS), w), dtype=np.int64)
        # The newest reading's gust and where in the ring its 3-s mean sits (-1: unknown).
        self._gust = np.full(w, -np.inf)
        self._gust_at = np.full(w, -1, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.source)

    def derive(self, block: Block) -> None:
        w, k = len(self.source), block.rows
        if w == 0 or k == 0:
            return
        src, ring = self.source, self._ring
        x = block.value[:, src]
        t = block.ts[:, src]
        ok = block.usable[:, src] & np.isfinite(x) & np.isfinite(t)
        order, u = compact(ok)
        xc = np.take_along_axis(x, order, axis=0)
        tc = np.take_along_axis(t, order, axis=0)
        live = np.arange(k)[:, None] < u[None, :]
        xc = np.where(live, xc, 0.0)

        ring.reserve(int((ring.n + u).max()))
        # Sequential accumulation from the carried sum: the same additions however the stream is cut.
        csum = np.cumsum(np.concatenate([self._carry[None, :], xc]), axis=0)[1:]
        self._carry = np.where(u > 0, csum[np.maximum(u - 1, 0), ring.cols], self._carry)
        n_before = ring.n.copy()
        ring.append(tc, u, csum=csum)

        qr, qc = np.nonzero(live)
        e = n_before[qc] + qr  # logical ring index of each reading of the block
        tq = tc[qr, qc]
        cq = csum[qr, qc]
        means, starts = [], []
        by_column = self._starts_by_column(tc, u) if int(u.max()) > _SMALL_BLOCK else None
        for i, width in enumerate(_WINDOWS):
            if by_column is None:
                # Windows only move forward: search up from where the previous reading's window started.
                start = ring.count_le(qc, tq - width, lo=self._start[i, qc], hi=e)
            else:
                start = by_column[i][qr, qc]
            before = np.where(start > 0, ring.get("csum", np.maximum(start - 1, 0), qc), self._base[qc])
            means.append((cq - before) / (e - start + 1))
            starts.append(start)
        m3, m120, m600 = means
        ring.f["m3"][ring.rows(e, qc), qc] = m3
        gust_start = starts[_WINDOWS.index(GUST_WINDOW)]
        if int(u.max()) <= _SMALL_BLOCK:
            gust = self._gust_stepwise(qr, qc, gust_start, e, m3)
        else:
            gust = self._gust_sparse(qc, gust_start, e)

        rows = order[qr, qc]
        for cols, vals in (
            (self.out_3s, m3),
            (self.out_2min, m120),
            (self.out_10min, m600),
            (self.out_gust, gust),
            (self.out_level, wind_level(m120)),
        ):
            block.ts[:, cols] = t
            block.present[:, cols] = block.present[:, src]
            block.usable[:, cols] = ok
            block.quality[:, cols] = block.quality[:, src]
            column = np.full((k, w), np.nan)
            column[rows, qc] = vals
            block.value[:, cols] = column

        # Carry the newest reading's window starts; forget what its longest window no longer holds.
        has = np.flatnonzero(u > 0)
        index = np.full((k, w), -1, dtype=np.int64)
        index[qr, qc] = np.arange(len(qr))
        newest = index[u[has] - 1, has]
        for i, start in enumerate(starts):
            self._start[i, has] = start[newest]
        if len(gust) and int(u.max()) > _SMALL_BLOCK:
            self._gust[has], self._gust_at[has] = self._window_max(has, gust_start[newest], e[newest])
        drop = np.zeros(w, dtype=np.int64)
        drop[has] = self._start[:, has].min(axis=0)
        dropped = np.flatnonzero(drop > 0)
        if len(dropped):
            self._base[dropped] = ring.get("csum", drop[dropped] - 1, dropped)
            ring.drop_oldest(drop)
            self._start -= drop
            self._gust_at -= drop
        self._rebase()

    def _starts_by_column(self, tc: F64, u: I64) -> list[I64]:
        """Window starts of many readings: one sorted search per column over its ring in time order
        (cheaper than a vectorised search once a block holds many readings per column)."""
        ring = self._ring
        length = int(ring.n.max())
        logical = (ring.head[:, None] + np.arange(length)[None, :]) % ring.cap
        times = ring.t[logical, ring.cols[:, None]]  # (W, L): row j is column j's ring, oldest first
        out = [np.zeros(tc.shape, dtype=np.int64) for _ in _WINDOWS]
        for j in np.flatnonzero(u > 0):
            history = times[j, : ring.n[j]]
            query = tc[: u[j], j]
            for i, width in enumerate(_WINDOWS):
                out[i][: u[j], j] = np.searchsorted(history, query - width, side="right")
        return out

    def _rebase(self) -> None:
        big = np.flatnonzero(self._base > _REBASE_AT)
        if not len(big):
            return
        ring = self._ring
        ring.f["csum"][:, big] -= self._base[big]
        self._carry[big] -= self._base[big]
        self._base[big] = 0.0

    def _window_max(self, cols: I64, start: I64, end: I64) -> tuple[F64, I64]:
        """Largest 3-s mean of ring entries start..end (logical) of each column, and its position."""
        ring = self._ring
        logical = (np.arange(ring.cap)[:, None] - ring.head[cols]) % ring.cap
        inside = (logical >= start) & (logical <= end)
        masked = np.where(inside, ring.f["m3"][:, cols], -np.inf)
        at = np.argmax(masked, axis=0)
        picked = np.arange(len(cols))
        return masked[at, picked], logical[at, picked]

    def _gust_stepwise(self, qr: I64, qc: I64, start: I64, end: I64, m3: F64) -> F64:
        """Gust reading by reading: the previous gust still inside the window, or the new 3-s mean if
        larger; only when the previous gust has left the window is the window searched again."""
        gust = np.empty(len(qr))
        for r in range(int(qr.max()) + 1 if len(qr) else 0):
            sel = np.flatnonzero(qr == r)
            c = qc[sel]
            val, at = self._gust[c], self._gust_at[c]
            new = m3[sel]
            rise = new >= val
            val = np.where(rise, new, val)
            at = np.where(rise, end[sel], at)
            lost = np.flatnonzero(at < start[sel])
            if len(lost):
                val[lost], at[lost] = self._window_max(c[lost], start[sel][lost], end[sel][lost])
            self._gust[c], self._gust_at[c] = val, at
            gust[sel] = val
        return gust

    def _gust_sparse(self, qc: I64, start: I64, end: I64) -> F64:
        """Gust of many readings at once: range maxima from a sparse table over the ring."""
        ring = self._ring
        length = int(ring.n.max())
        logical = np.arange(length)[:, None]
        level0 = np.where(
            logical < ring.n, ring.f["m3"][(ring.head + logical) % ring.cap, ring.cols], -np.inf
        )
        span = end - start + 1
        k = np.frexp(span.astype(np.float64))[1] - 1  # floor(log2(span)), exact for integers
        gust = np.empty(len(qc))
        table = level0
        for level in range(int(k.max()) + 1):
            if level:
                half = 1 << (level - 1)
                table = np.maximum(table[:-half], table[half:])
            sel = np.flatnonzero(k == level)
            if len(sel):
                c = qc[sel]
                gust[sel] = np.maximum(table[start[sel], c], table[end[sel] - (1 << level) + 1, c])
        return gust


# --- forecast ---------------------------------------------------------------------------------------


def time_to_limit_s(
    ts: npt.ArrayLike,
    values: npt.ArrayLike,
    limit: npt.ArrayLike,
    now: npt.ArrayLike | None = None,
    min_samples: int = 3,
) -> F64:
    """Seconds from ``now`` until the least-squares line through (ts, values) reaches ``limit``.

    The local gale forecast: "the mean wind will cross the stop-lifting limit in N seconds". Only a
    rising line gives a forecast: NaN when the slope is not positive or fewer than ``min_samples``
    finite points; 0 when the line is already at or above the limit at ``now`` (default: the newest
    time). ``ts``/``values`` are (L,) or (L, E) with NaN where there is no point (one fit per column);
    ``limit`` and ``now`` broadcast over the E columns. Returns shape () or (E,).
    """
    t = np.asarray(ts, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    single = t.ndim == 1
    if single:
        t, v = t[:, None], v[:, None]
    ok = np.isfinite(t) & np.isfinite(v)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        at = (
            np.max(np.where(ok, t, -np.inf), axis=0)
            if now is None
            else np.broadcast_to(np.asarray(now, dtype=np.float64), n.shape)
        )
        dt = np.where(ok, t - at, 0.0)  # times relative to now keep the sums well conditioned
        vv = np.where(ok, v, 0.0)
        t_mean = dt.sum(axis=0) / n
        v_mean = vv.sum(axis=0) / n
        dtc = np.where(ok, dt - t_mean, 0.0)
        sxx = (dtc * dtc).sum(axis=0)
        sxy = (dtc * np.where(ok, vv - v_mean, 0.0)).sum(axis=0)
        slope = sxy / sxx
        crossing = t_mean + (np.asarray(limit, dtype=np.float64) - v_mean) / slope
        out = np.where((n >= min_samples) & (sxx > 0) & (slope > 0), np.maximum(crossing, 0.0), np.nan)
    return out[0] if single else out


# --- judge ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindSpec:
    """One wind rule bound to anemometers: column arrays, one entry per bound wind channel."""

    rule: int
    channels: npt.NDArray[np.int32]  # the alarm's channel (the <dev>.wind_speed column)
    mean: npt.NDArray[np.int32]  # the judged mean: <dev>.wind_2min or <dev>.wind_10min column
    gust: npt.NDArray[np.int32]  # <dev>.gust column: the largest 3-s mean of the last 10 minutes
    watch_level: int = 5
    stop_lifting_level: int = 6
    working_limit: float = 20.0
    hysteresis: float = 0.5
    trend_window_s: float = 600.0


class WindTable:
    """Wind rules: grade 1 at the watch level, 2 at the stop-lifting level (both on the mean), 3 when
    the gust reaches the working limit. Hysteresis (m/s) on every boundary: a grade is reached at
    its boundary and held until the wind falls below boundary - hysteresis.

    Grade 3 is judged on the gust (GB/T 28591, CMA: the largest 3-s mean over the observation
    period, here 10 minutes), not on the current 3-s mean: one burst at the crane's working limit
    keeps grade 3 for the period that defines a gust, instead of flipping 3 <-> 2 with every eddy of
    turbulent wind (a 3-s mean around the limit crosses it every few seconds).

    An event's value is the judged wind (mean for grades 1-2, gust for 3), its limit the boundary
    in m/s. ``time_to_limit_s`` forecasts when a rising mean (least squares over ``trend_window_s``)
    crosses the stop-lifting boundary; NaN when the mean is not rising or already past it.
    """

    def __init__(self, specs: Sequence[WindSpec]) -> None:
        counts = [len(s.channels) for s in specs]
        m = int(sum(counts))

        def per_row(values: list[float]) -> F64:
            return np.repeat(np.asarray(values, dtype=np.float64), counts)

        def cat(name: str) -> I64:
            parts = [np.asarray(getattr(s, name), dtype=np.int64).reshape(-1) for s in specs]
            return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

        self.rule = np.repeat(np.array([s.rule for s in specs], dtype=np.int32), counts)
        self.channel = cat("channels").astype(np.int32)
        self.mean_col = cat("mean")
        self.gust_col = cat("gust")
        if len(self.mean_col) != m or len(self.gust_col) != m:
            raise ValueError("a wind spec needs one mean and one gust column per channel")
        watch = per_row([level_floor(s.watch_level) for s in specs])
        stop = per_row([level_floor(s.stop_lifting_level) for s in specs])
        working = per_row([s.working_limit for s in specs])
        self.limit = np.stack([watch, stop, working], axis=1)  # (M, 3) boundaries in m/s
        self.hysteresis = per_row([s.hysteresis for s in specs])
        self.trend_window = per_row([s.trend_window_s for s in specs])
        tolerance = np.array([LEVEL_TOLERANCE, LEVEL_TOLERANCE, 0.0])
        self._reach = self.limit - tolerance
        self._held = self._reach - self.hysteresis[:, None]
        self._on = np.zeros((m, 3), dtype=bool)  # per boundary: watch, stop (mean), working (gust)
        self._history = _Ring(m, ("v",))
        self._rows = np.arange(m, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.channel)

    @property
    def grade(self) -> I8:
        return _grade_of(self._on)

    def tick(self, now: float) -> TableResult:
        return TableResult.empty()

    def evaluate(self, block: Block) -> TableResult:
        m, k = len(self.channel), block.rows
        if m == 0 or k == 0:
            return TableResult.empty()
        mean = block.value[:, self.mean_col]
        gust = block.value[:, self.gust_col]
        t = block.ts[:, self.mean_col]
        ok = (
            block.usable[:, self.mean_col]
            & block.usable[:, self.gust_col]
            & np.isfinite(mean)
            & np.isfinite(gust)
            & np.isfinite(t)
        )
        old_on = self._on.copy()
        on = np.empty((k, m, 3), dtype=bool)
        for b, quantity in ((0, mean), (1, mean), (2, gust)):
            on[:, :, b] = _hysteresis_states(quantity, ok, self._reach[:, b], self._held[:, b], old_on[:, b])
        self._on = on[-1].copy()
        self._remember(t, mean, ok)

        grade = _grade_of(on)  # (K, M)
        prev_on = np.concatenate([old_on[None], on[:-1]], axis=0)
        prev = _grade_of(prev_on)
        kk, mm = np.nonzero(grade != prev)
        if not len(kk):
            return TableResult.empty()
        new, old = grade[kk, mm], prev[kk, mm]
        # Which quantity explains the grade: the gust for grade 3, the mean otherwise; on clearing,
        # the one that explained the grade before.
        by_gust = np.where(new > 0, new == 3, old == 3)
        value = np.where(by_gust, gust[kk, mm], mean[kk, mm])
        boundary = np.where(by_gust, 2, np.where(new > 0, new - 1, 0))
        limit = self.limit[mm, boundary]
        ts = t[kk, mm]
        ttl = self._forecast(kk, mm, ts, mean[kk, mm], ok)
        return result(mm, old, new, ts, value, limit, time_to_limit_s=ttl)

    def _remember(self, t: F64, mean: F64, ok: BOOL) -> None:
        order, u = compact(ok)
        tc = np.take_along_axis(t, order, axis=0)
        vc = np.take_along_axis(mean, order, axis=0)
        ring = self._history
        cutoff = np.where(u > 0, tc[0] - self.trend_window, -np.inf)
        ring.drop_oldest(ring.count_le(ring.cols, cutoff))
        ring.reserve(int((ring.n + u).max()))
        self._n_before = ring.n.copy()
        ring.append(tc, u, v=vc)

    def _forecast(self, kk: I64, mm: I64, ts: F64, mean_now: F64, ok: BOOL) -> F64:
        ring = self._history
        stop = self.limit[mm, 1]
        ttl = np.full(len(kk), np.nan)
        ask = np.flatnonzero(mean_now < stop - LEVEL_TOLERANCE)
        if not len(ask):
            return ttl
        col = mm[ask]
        # Logical index of the event reading in the history: readings before it in the block + n_before.
        position = np.cumsum(ok, axis=0)[kk[ask], col] - 1
        end = self._n_before[col] + position
        start = ring.count_le(col, ts[ask] - self.trend_window[col])
        span = int((end - start + 1).max())
        idx = start[None, :] + np.arange(span)[:, None]
        inside = idx <= end[None, :]
        safe = np.minimum(idx, end[None, :])
        tt = np.where(inside, ring.get("t", safe, col[None, :]), np.nan)
        vv = np.where(inside, ring.get("v", safe, col[None, :]), np.nan)
        ttl[ask] = time_to_limit_s(tt, vv, stop[ask], now=ts[ask])
        return ttl


def _hysteresis_states(value: F64, ok: BOOL, reach: F64, held: F64, initial: BOOL) -> BOOL:
    """(K, M) on/off of one boundary over time: on when value >= reach, off when value < held, else
    as before; readings that are not ok change nothing. Vectorised over time by forward fill."""
    with np.errstate(invalid="ignore"):
        set_on = ok & (value >= reach)
        set_off = ok & ~(value >= held)
    decided = set_on | set_off
    k = value.shape[0]
    last = np.where(decided, np.arange(k)[:, None], -1)
    last = np.maximum.accumulate(last, axis=0)
    cols = np.arange(value.shape[1])
    return np.where(last >= 0, set_on[np.maximum(last, 0), cols], initial[None, :])


def _grade_of(on: BOOL) -> I8:
    """Grade from the (..., 3) boundary states: watch 1, stop-lifting 2, working limit 3."""
    grades = np.array([1, 2, 3], dtype=np.int8)
    return np.max(np.where(on, grades, np.int8(0)), axis=-1).astype(np.int8)
