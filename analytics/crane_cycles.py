"""Tower crane working cycles: lift-off to set-down, with what the record of each lift keeps.

GB/T 28264-2017 has the monitoring system record every working cycle, JGJ 332-2014 §3.1.1 the load,
moment, height and radius. A cycle is one lift seen on the hook load:

- **lift-off**: the first usable load reading at or above ``start_t`` while no cycle is open;
- **set-down**: the first usable load reading below ``stop_t`` (< ``start_t``) of an open cycle. Readings
  between the two thresholds change nothing (hysteresis): a load swinging around ``start_t`` on the
  way down, or a crew easing the load onto its bearers, stays one cycle;
- **interrupted**: two consecutive usable load readings more than ``max_gap_s`` apart end an open cycle
  at the earlier one, because nothing says the load stayed on the hook in between. The reading after
  the gap is judged afresh (at or above ``start_t`` it lifts off a new cycle);
- a cycle shorter than ``min_duration_s`` (lift-off to end) is a bump, not a cycle, and is dropped.

A cycle's ``start_ts`` is its lift-off reading's time; its ``end_ts`` is the set-down reading's time,
or for an interrupted cycle the last reading before the gap. Its ``samples`` are the load readings
from lift-off up to (not including) the set-down reading; the peaks are taken over those readings.

Radius, height and wind are joined **as-of**: each load reading gets the newest usable reading of
each at or before its time, carried across blocks (a crane's radius and the site anemometer are
polled on their own schedule). Ratios follow ``analytics.crane``: load ratio ``load / rated(r)`` and
moment ratio ``load x r / rated_moment(r)`` from the load chart. ``peak_load_ratio`` and
``peak_moment_ratio`` are the largest ratios over the cycle's readings, not the ratios at the moment
of the peak load: a load picked near the mast and trolleyed out past its rated radius is overloaded
at the far end, where the load itself is no higher. NaN where no radius (or no chart) is known; an
unknown ratio is not an overload.

Unusable readings (quality at or above ``BAD``, NaN or infinite value or time) are skipped: they
neither start nor end a cycle, nor bridge a gap. A reading of a column not newer than that column's
newest usable reading so far is out of order: it is dropped and counted (``dropped_stale``).

Feeding a stream block by block gives the cycles of feeding it at once, as long as no reading of a
later block is older than a reading of an earlier one (the gateway's batches are cut in time); inside
a block the rows may come in any channel order, each channel's rows in time order. Cycles come out
when they end, so an open cycle waits for the next usable load reading of its crane (there is no
clock here); ``open_cycles()`` shows the ones in progress.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass

import numpy as np
import numpy.typing as npt

from analytics.crane import LoadChart
from analytics.table import F64
from gateway.vocab.cycles import CraneCycle, Ended
from gateway.vocab.quality_bits import Quality

BAD = Quality.BAD


@dataclass(frozen=True, slots=True)
class CycleSpec:
    """One crane's cycle detection: its columns, load chart and thresholds.

    Defaults (site engineers override them per crane):

    - ``start_t`` 0.2 t / ``stop_t`` 0.1 t: the load cell is zeroed with the hook block, so an empty
      hook reads a few hundredths of a tonne plus drift and rope sway; 0.2 t clears that and stays
      below the lightest real lifts (a few hundred kg of rebar or formwork). The 0.1 t band between
      the thresholds holds a load's sway and dynamic swing near the start threshold.
    - ``min_duration_s`` 5 s: a real lift (take-up, hoist, slew, lower, set-down) takes tens of
      seconds; a snagged hook or a knock on the load cell lasts one to three polls at 1 Hz. A lift
      refused by the limiter (held at the cut-off for some seconds, then lowered) is longer than
      5 s and is kept: an attempted overload must be on record.
    - ``max_gap_s`` 30 s: longer than any poll period with retries (1-10 s), shorter than the least
      time from one set-down to the next lift-off (unhook, trolley, rig: about a minute), so a gap
      cannot hide a set-down and a new lift-off and merge two lifts into one.
    """

    crane: str
    load: int  # column of the hook load, tonnes
    _: KW_ONLY
    chart: LoadChart | None = None  # without one the ratios are NaN and nothing is an overload
    radius: int | None = None  # column of the trolley radius, m
    height: int | None = None  # column of the hook height, m
    wind: int | None = None  # column of a wind speed, m/s (the crane's or the site anemometer)
    start_t: float = 0.2
    stop_t: float = 0.1
    min_duration_s: float = 5.0
    max_gap_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.crane:
            raise ValueError("a crane needs a name")
        numbers = (self.start_t, self.stop_t, self.min_duration_s, self.max_gap_s)
        if not all(math.isfinite(x) for x in numbers):
            raise ValueError(f"crane {self.crane}: thresholds and durations must be finite")
        if not self.stop_t < self.start_t:
            raise ValueError(f"crane {self.crane}: stop_t must be below start_t (hysteresis)")
        if self.min_duration_s < 0 or self.max_gap_s <= 0:
            raise ValueError(f"crane {self.crane}: min_duration_s must be >= 0 and max_gap_s > 0")
        columns = [self.load, *self.aux_columns]
        if any(c < 0 for c in columns):
            raise ValueError(f"crane {self.crane}: columns must be >= 0")
        if self.load in self.aux_columns:
            raise ValueError(f"crane {self.crane}: the load column cannot also be its radius, height or wind")

    @property
    def aux_columns(self) -> tuple[int, ...]:
        return tuple(c for c in (self.radius, self.height, self.wind) if c is not None)


# Per-crane accumulators of the open cycle, one array over cranes each (NaN: nothing seen yet).
_MAX_FIELDS = ("lr", "mr", "r_max", "h_max", "w_max")
_MIN_FIELDS = ("r_min", "h_min")


class CycleDetector:
    """Working cycles of several cranes from blocks of readings; state carried between blocks."""

    def __init__(self, specs: Sequence[CycleSpec]) -> None:
        self.specs = list(specs)
        names = [s.crane for s in self.specs]
        if len(set(names)) != len(names):
            raise ValueError("crane names must be unique (they make the cycle ids)")
        loads = [s.load for s in self.specs]
        if len(set(loads)) != len(loads):
            raise ValueError("each crane needs a load column of its own")
        aux = sorted({c for s in self.specs for c in s.aux_columns})
        if set(aux) & set(loads):
            raise ValueError("a load column cannot be another crane's radius, height or wind")
        m = len(self.specs)
        # Newest usable reading of every column read here: load columns first, then aux columns.
        self._columns = np.array(loads + aux, dtype=np.int64)
        self._slot = {int(c): i for i, c in enumerate(self._columns)}
        self._last_ts = np.full(len(self._columns), -np.inf)
        self._last_value = np.full(len(self._columns), np.nan)
        self.dropped_stale = 0  # readings dropped as not newer than their column's newest
        # The open cycle of each crane.
        self._open = np.zeros(m, dtype=bool)
        self._start = np.full(m, np.nan)
        self._samples = np.zeros(m, dtype=np.int64)
        self._peak = np.full(m, -np.inf)
        self._r_at_peak = np.full(m, np.nan)
        self._acc = {name: np.full(m, np.nan) for name in (*_MAX_FIELDS, *_MIN_FIELDS)}

    def process(
        self,
        ts: npt.ArrayLike,
        channel: npt.ArrayLike,
        value: npt.ArrayLike,
        quality: npt.ArrayLike,
    ) -> list[CraneCycle]:
        """Take a block of readings; return the cycles that ended in it, by end time then crane."""
        t = np.asarray(ts, dtype=np.float64).reshape(-1)
        ch = np.asarray(channel).reshape(-1)
        v = np.asarray(value, dtype=np.float64).reshape(-1)
        q = np.asarray(quality).reshape(-1)
        if not len(t) == len(ch) == len(v) == len(q):
            raise ValueError("ts, channel, value and quality must have the same length")
        usable = np.flatnonzero((q < BAD) & np.isfinite(v) & np.isfinite(t) & np.isin(ch, self._columns))
        u_ch = ch[usable]
        columns: dict[int, tuple[F64, F64]] = {}
        for slot, col in enumerate(self._columns):
            rows = usable[u_ch == col]
            columns[int(col)] = self._newer_only(slot, t[rows], v[rows])

        out: list[CraneCycle] = []
        for c, spec in enumerate(self.specs):
            lt, lv = columns[spec.load]
            if len(lt):
                out.extend(self._crane(c, spec, lt, lv, columns))
        # Aux columns' newest values move on only after every crane has joined its loads to them.
        for slot, col in enumerate(self._columns):
            at, av = columns[int(col)]
            if len(at):
                self._last_ts[slot] = at[-1]
                self._last_value[slot] = av[-1]
        out.sort(key=lambda cy: (cy.end_ts, cy.crane, cy.start_ts))
        return out

    def open_cycles(self) -> list[CraneCycle]:
        """Cycles in progress, as they stand after the last reading (``ended="open"``)."""
        found = []
        for c in map(int, np.flatnonzero(self._open)):
            spec = self.specs[c]
            now = float(self._last_ts[c])  # load columns come first in the slots
            found.append(self._cycle(spec.crane, c, self._start[c], now, "open"))
        return found

    # --- internals --------------------------------------------------------------------------------

    def _newer_only(self, slot: int, t: F64, v: F64) -> tuple[F64, F64]:
        """Drop readings not newer than every earlier usable reading of their column."""
        if len(t) == 0:
            return t, v
        before = np.maximum.accumulate(np.concatenate(([self._last_ts[slot]], t[:-1])))
        newer = t > before
        if not newer.all():
            self.dropped_stale += int((~newer).sum())
            return t[newer], v[newer]
        return t, v

    def _as_of(self, col: int | None, lt: F64, columns: dict[int, tuple[F64, F64]]) -> F64:
        """Each load time's newest usable reading of ``col`` at or before it (NaN if none)."""
        if col is None:
            return np.full(len(lt), np.nan)
        at, av = columns[col]
        slot = self._slot[col]
        carried_ts, carried = self._last_ts[slot], self._last_value[slot]
        earlier = np.where(carried_ts <= lt, carried, np.nan)
        if len(at) == 0:
            return earlier
        j = np.searchsorted(at, lt, side="right") - 1
        return np.where(j >= 0, av[np.maximum(j, 0)], earlier)

    def _crane(
        self, c: int, spec: CycleSpec, lt: F64, lv: F64, columns: dict[int, tuple[F64, F64]]
    ) -> list[CraneCycle]:
        n = len(lt)
        was_open = bool(self._open[c])
        prev_t = np.concatenate(([self._last_ts[c]], lt[:-1]))
        gap = (lt - prev_t) > spec.max_gap_s
        hi = lv >= spec.start_t
        decisive = hi | (lv < spec.stop_t) | gap  # a gap leaves the crane idle, as a low reading does
        last_decisive = np.maximum.accumulate(np.where(decisive, np.arange(n), -1))
        state = np.where(last_decisive >= 0, hi[np.maximum(last_decisive, 0)], was_open)
        prev_state = np.concatenate(([was_open], state[:-1]))
        starts = state & (~prev_state | gap)
        ends = np.flatnonzero(prev_state & (gap | ~state))
        # Segment 0 is the cycle carried in from the last block; segment k >= 1 the k-th lift-off here.
        seg = np.cumsum(starts)
        n_seg = int(seg[-1]) + 1

        members = np.flatnonzero(state)
        r = self._as_of(spec.radius, lt, columns)
        h = self._as_of(spec.height, lt, columns)
        w = self._as_of(spec.wind, lt, columns)
        lr, mr = _ratios(spec.chart, lv, r)

        samples = np.zeros(n_seg, dtype=np.int64)
        peak = np.full(n_seg, -np.inf)
        r_at_peak = np.full(n_seg, np.nan)
        start = np.full(n_seg, np.nan)
        acc = {name: np.full(n_seg, np.nan) for name in self._acc}
        if len(members):
            m_seg = seg[members]
            first = np.flatnonzero(np.concatenate(([True], m_seg[1:] != m_seg[:-1])))
            which = m_seg[first]
            size = np.diff(np.append(first, len(members)))
            samples[which] = size
            m_load = lv[members]
            seg_peak = np.maximum.reduceat(m_load, first)
            at_peak = m_load == np.repeat(seg_peak, size)
            peak_pos = np.minimum.reduceat(np.where(at_peak, np.arange(len(members)), len(members)), first)
            peak[which] = seg_peak
            r_at_peak[which] = r[members[peak_pos]]
            start[which] = lt[members[first]]
            per_reading = {"lr": lr, "mr": mr, "r_max": r, "h_max": h, "w_max": w, "r_min": r, "h_min": h}
            for name, x in per_reading.items():
                reduce = np.fmin if name in _MIN_FIELDS else np.fmax
                acc[name][which] = reduce.reduceat(x[members], first)

        if was_open:  # fold the carried part of segment 0 in; on a tie the earlier peak stays
            if self._peak[c] >= peak[0]:
                peak[0], r_at_peak[0] = self._peak[c], self._r_at_peak[c]
            samples[0] += self._samples[c]
            start[0] = self._start[c]
            for name in _MAX_FIELDS:
                acc[name][0] = np.fmax(acc[name][0], self._acc[name][c])
            for name in _MIN_FIELDS:
                acc[name][0] = np.fmin(acc[name][0], self._acc[name][c])

        found = []
        seg_before = np.concatenate(([0], seg[:-1]))
        for i in ends:
            k = int(seg_before[i])
            interrupted = bool(gap[i])
            end_ts = float(prev_t[i] if interrupted else lt[i])
            if end_ts - start[k] < spec.min_duration_s:
                continue
            self._load_segment(c, k, samples, peak, r_at_peak, start, acc)
            found.append(
                self._cycle(spec.crane, c, start[k], end_ts, "interrupted" if interrupted else "set_down")
            )

        self._open[c] = bool(state[-1])
        if state[-1]:
            self._load_segment(c, n_seg - 1, samples, peak, r_at_peak, start, acc)
        self._last_ts[c] = lt[-1]
        self._last_value[c] = lv[-1]
        return found

    def _load_segment(
        self,
        c: int,
        k: int,
        samples: npt.NDArray[np.int64],
        peak: F64,
        r_at_peak: F64,
        start: F64,
        acc: dict[str, F64],
    ) -> None:
        """Make segment k the crane's current cycle (the carried state the record is read from)."""
        self._samples[c] = samples[k]
        self._peak[c] = peak[k]
        self._r_at_peak[c] = r_at_peak[k]
        self._start[c] = start[k]
        for name, arr in acc.items():
            self._acc[name][c] = arr[k]

    def _cycle(self, crane: str, c: int, start_ts: float, end_ts: float, ended: Ended) -> CraneCycle:
        a = {name: float(arr[c]) for name, arr in self._acc.items()}
        return CraneCycle(
            crane=crane,
            start_ts=float(start_ts),
            end_ts=float(end_ts),
            duration_s=float(end_ts - start_ts),
            peak_load_t=float(self._peak[c]),
            peak_load_ratio=a["lr"],
            peak_moment_ratio=a["mr"],
            radius_at_peak_m=float(self._r_at_peak[c]),
            max_radius_m=a["r_max"],
            min_radius_m=a["r_min"],
            max_height_m=a["h_max"],
            min_height_m=a["h_min"],
            max_wind_ms=a["w_max"],
            overload=bool(a["lr"] > 1.0 or a["mr"] > 1.0),
            samples=int(self._samples[c]),
            ended=ended,
        )


def _ratios(chart: LoadChart | None, load: F64, radius: F64) -> tuple[F64, F64]:
    """Load and moment ratios at each reading (NaN where the radius is unknown or no chart)."""
    if chart is None:
        nan = np.full(len(load), np.nan)
        return nan, nan.copy()
    known = np.isfinite(radius)
    r = np.where(known, radius, chart.radius[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        load_ratio = load / chart.rated_load(r)
        moment_ratio = load * r / chart.rated_moment(r)
    return np.where(known, load_ratio, np.nan), np.where(known, moment_ratio, np.nan)
