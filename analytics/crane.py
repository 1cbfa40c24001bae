"""Tower crane: rated load from the load chart, and the load and moment ratios a limiter judges.

The load chart gives the rated load at some radii; between them it is interpolated linearly and
beyond its ends it stays flat (GB 5144 limiters work from the chart the maker certifies). The
rated moment at a radius is interpolated linearly from the chart's moments (radius x rated load),
so between chart points the moment ratio ``load x radius / rated_moment(radius)`` differs slightly
from the load ratio, and beyond the chart's far end it keeps growing with the radius.

The ratios are derived channels: each usable load reading is joined with the crane's newest usable
radius reading at or before its time (as-of join, carried across blocks) and gets ``load_ratio``
and ``moment_ratio`` readings at its own time. A load with no radius known yet gives unusable ones.
One overload is one alarm: ``CraneOverloadTable`` grades the larger of the two ratios of each
reading (with a chart whose rated load does not rise with the radius they agree at the chart's
points; between them and beyond its far end the moment ratio is the larger, below its first radius
the load ratio) with the ordinary threshold logic (0.9 / 1.0 / 1.1, hysteresis), so a lift over the
chart raises one alarm that names load, radius, rated load and both ratios.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from analytics.table import F64, I8, Block, TableResult, result
from analytics.thresholds import ThresholdSpec, ThresholdTable
from analytics.wind import I64, compact, sorted_column_search


@dataclass(frozen=True, slots=True)
class LoadChart:
    """Rated load (t) at radii (m); radii strictly increasing, rated loads positive."""

    radius: F64
    rated: F64
    moment: F64 = field(init=False)

    def __init__(self, radius: npt.ArrayLike, rated: npt.ArrayLike) -> None:
        r = np.asarray(radius, dtype=np.float64).reshape(-1)
        q = np.asarray(rated, dtype=np.float64).reshape(-1)
        if len(r) < 1 or r.shape != q.shape:
            raise ValueError("a load chart needs radii and rated loads of the same, non-zero length")
        if not (np.isfinite(r).all() and np.isfinite(q).all()):
            raise ValueError("a load chart holds finite numbers only")
        if (np.diff(r) <= 0).any():
            raise ValueError("load chart radii must be strictly increasing")
        if (q <= 0).any() or (r <= 0).any():
            raise ValueError("load chart radii and rated loads must be positive")
        object.__setattr__(self, "radius", r)
        object.__setattr__(self, "rated", q)
        object.__setattr__(self, "moment", r * q)

    @staticmethod
    def from_pairs(pairs: Sequence[tuple[float, float]]) -> LoadChart:
        """From ``[[radius m, rated t], ...]`` as in the site file."""
        arr = np.asarray(pairs, dtype=np.float64).reshape(-1, 2)
        return LoadChart(arr[:, 0], arr[:, 1])

    def rated_load(self, radius: npt.ArrayLike) -> F64:
        return np.interp(np.asarray(radius, dtype=np.float64), self.radius, self.rated)

    def rated_moment(self, radius: npt.ArrayLike) -> F64:
        return np.interp(np.asarray(radius, dtype=np.float64), self.radius, self.moment)


class _Charts:
    """Several charts padded into (M, P) arrays, interpolated for many (chart, radius) pairs at once."""

    def __init__(self, charts: Sequence[LoadChart]) -> None:
        m = len(charts)
        p = max((len(c.radius) for c in charts), default=1)
        self.size = np.array([len(c.radius) for c in charts], dtype=np.int64)
        self.radius = np.full((m, p), np.inf)
        self.rated = np.zeros((m, p))
        self.moment = np.zeros((m, p))
        for i, c in enumerate(charts):
            n = len(c.radius)
            self.radius[i, :n] = c.radius
            self.rated[i, :n] = c.rated
            self.moment[i, :n] = c.moment
            # Pad with the last point so a one-point chart, and the flat far end, need no special case.
            self.radius[i, n:] = c.radius[-1]
            self.rated[i, n:] = c.rated[-1]
            self.moment[i, n:] = c.moment[-1]

    def interp(self, which: I64, radius: F64, table: F64) -> F64:
        """Linear inside the chart, flat beyond its ends (as ``np.interp``)."""
        xs = self.radius[which]
        size = self.size[which]
        # Segment [i, i + 1] with x_i <= r < x_{i+1}, clamped to the chart's first and last segments.
        count = np.sum(xs <= radius[:, None], axis=1)
        i = np.clip(count - 1, 0, np.maximum(size - 2, 0))
        j = np.minimum(i + 1, size - 1)
        rows = np.arange(len(which))
        x0, x1 = xs[rows, i], xs[rows, j]
        y0, y1 = table[which, i], table[which, j]
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(x1 > x0, (y1 - y0) / (x1 - x0), 0.0)
        y = slope * (radius - x0) + y0
        y = np.where(radius <= xs[rows, 0], table[which, 0], y)
        return np.where(radius >= x1, y1, y)


class CraneDeriver:
    """Fills ``<dev>.load_ratio`` and ``<dev>.moment_ratio`` from a crane's load and radius channels.

    Arguments are column arrays, one entry per crane (load channel), and one chart per crane.
    """

    def __init__(
        self,
        load: npt.ArrayLike,
        radius: npt.ArrayLike,
        load_ratio: npt.ArrayLike,
        moment_ratio: npt.ArrayLike,
        charts: Sequence[LoadChart],
    ) -> None:
        self.load = np.asarray(load, dtype=np.int64).reshape(-1)
        self.radius = np.asarray(radius, dtype=np.int64).reshape(-1)
        self.load_ratio = np.asarray(load_ratio, dtype=np.int64).reshape(-1)
        self.moment_ratio = np.asarray(moment_ratio, dtype=np.int64).reshape(-1)
        m = len(self.load)
        if any(len(a) != m for a in (self.radius, self.load_ratio, self.moment_ratio)) or len(charts) != m:
            raise ValueError("a crane deriver needs one radius, output pair and chart per load column")
        outs = np.concatenate([self.load_ratio, self.moment_ratio])
        if len(np.unique(outs)) != len(outs) or np.isin(outs, np.concatenate([self.load, self.radius])).any():
            raise ValueError("derived columns must be distinct and not inputs")
        if (self.load == self.radius).any():
            raise ValueError("the load and radius of a crane must be different columns")
        self._charts = _Charts(charts)
        self._rows = np.arange(m, dtype=np.int64)
        self.last_radius = np.full(m, np.nan)  # newest usable radius before this block
        self.last_radius_ts = np.full(m, np.nan)
        # (K, M) radius each load reading of the last block was judged at (NaN: none known), read by
        # the overload table for its messages.
        self.block_radius = np.zeros((0, m))

    def __len__(self) -> int:
        return len(self.load)

    def rated_load(self, crane: I64, radius: F64) -> F64:
        """Rated load of each (crane, radius) pair from that crane's chart."""
        return self._charts.interp(crane, radius, self._charts.rated)

    def derive(self, block: Block) -> None:
        m, k = len(self.load), block.rows
        if m == 0 or k == 0:
            return
        load = block.value[:, self.load]
        t = block.ts[:, self.load]
        ok = block.usable[:, self.load] & np.isfinite(load) & np.isfinite(t)

        r = block.value[:, self.radius]
        rt = block.ts[:, self.radius]
        r_ok = block.usable[:, self.radius] & np.isfinite(r) & np.isfinite(rt)
        order, u = compact(r_ok)
        rc = np.take_along_axis(r, order, axis=0)
        rtc = np.take_along_axis(rt, order, axis=0)

        kk, mm = np.nonzero(ok)
        before = sorted_column_search(rtc, u, mm, t[kk, mm])  # radius readings at or before the load
        from_block = before > 0
        radius = np.where(from_block, rc[np.maximum(before - 1, 0), mm], self.last_radius[mm])
        known = np.isfinite(radius)
        load_q = load[kk, mm]
        rated = self._charts.interp(mm, radius, self._charts.rated)
        moment = self._charts.interp(mm, radius, self._charts.moment)
        with np.errstate(invalid="ignore", divide="ignore"):
            load_ratio = load_q / rated
            moment_ratio = load_q * radius / moment
        load_ratio[~known] = np.nan
        moment_ratio[~known] = np.nan

        usable = np.zeros((k, m), dtype=bool)
        usable[kk[known], mm[known]] = True
        self.block_radius = np.full((k, m), np.nan)
        self.block_radius[kk, mm] = radius
        for cols, vals in ((self.load_ratio, load_ratio), (self.moment_ratio, moment_ratio)):
            block.ts[:, cols] = t
            block.present[:, cols] = block.present[:, self.load]
            block.usable[:, cols] = usable
            block.quality[:, cols] = block.quality[:, self.load]
            column = np.full((k, m), np.nan)
            column[kk, mm] = vals
            block.value[:, cols] = column

        newest = np.flatnonzero(u > 0)
        self.last_radius[newest] = rc[u[newest] - 1, newest]
        self.last_radius_ts[newest] = rtc[u[newest] - 1, newest]


# Slots of ``TableResult.detail`` for a crane overload change.
CRANE_DETAIL = ("load", "radius", "rated", "load_ratio", "moment_ratio")


class CraneOverloadTable:
    """One alarm row per crane: the larger of its load and moment ratio against graded limits.

    ``specs`` give, per crane of ``deriver`` (in its order), the rule number, the row's alarm channel
    (the crane's load-ratio column) and the limits; ``channels`` of each spec is ignored. A change
    carries ``CRANE_DETAIL`` (load t, radius m, rated load t at that radius, both ratios) as detail.
    """

    def __init__(self, deriver: CraneDeriver, specs: Sequence[ThresholdSpec]) -> None:
        m = len(deriver)
        if len(specs) != m:
            raise ValueError("a crane overload table needs one spec per crane of its deriver")
        self.deriver = deriver
        self.rule = np.array([s.rule for s in specs], dtype=np.int32)
        self.channel = deriver.load_ratio.astype(np.int32)
        # The inner table judges a (K, M) block of the larger ratio: crane i in column i.
        self._table = ThresholdTable(
            [
                ThresholdSpec(
                    rule=s.rule,
                    channels=np.array([i], dtype=np.int32),
                    upper=s.upper,
                    hysteresis=s.hysteresis,
                    debounce_count=s.debounce_count,
                    debounce_of=s.debounce_of,
                    hold_s=s.hold_s,
                )
                for i, s in enumerate(specs)
            ]
        )

    def __len__(self) -> int:
        return len(self.rule)

    @property
    def grade(self) -> I8:
        return self._table.grade

    def tick(self, now: float) -> TableResult:
        return self._table.tick(now)

    def evaluate(self, block: Block) -> TableResult:
        d = self.deriver
        if len(d) == 0 or block.rows == 0:
            return TableResult.empty()
        lr, mr = block.value[:, d.load_ratio], block.value[:, d.moment_ratio]
        with np.errstate(invalid="ignore"):
            worst = np.fmax(lr, mr)
        inner = Block(
            ts=block.ts[:, d.load_ratio],
            value=worst,
            present=block.present[:, d.load_ratio],
            usable=block.usable[:, d.load_ratio] & np.isfinite(worst),
            quality=block.quality[:, d.load_ratio],
        )
        found = self._table.evaluate(inner)
        if not len(found):
            return found
        # Each change happened at one load reading: find its block row by its time.
        crane = found.row
        same_time = inner.ts[:, crane] == found.ts[None, :]
        at = np.argmax(same_time, axis=0)
        load = block.value[at, d.load[crane]]
        radius = d.block_radius[at, crane]
        rated = d.rated_load(crane.astype(np.int64), radius)
        detail = np.column_stack([load, radius, rated, lr[at, crane], mr[at, crane]])
        detail[~same_time.any(axis=0)] = np.nan  # not at a reading of this block: nothing to tell
        return result(
            crane,
            found.old_grade,
            found.new_grade,
            found.ts,
            found.value,
            found.limit,
            found.upward,
            detail=detail,
        )
