"""The replay case's rules written with polars, the way a data engineer would, for the comparison in
``bench_replay_cores.py``: the whole recording as one frame, every rule as column expressions over
channels (``over``), no Python loop over readings.

The rules and parameters are the benchmark's (``BenchRules`` via ``replay_rules``), as the core
applies them:

- readings not newer than their channel's newest so far are dropped;
- out of range (the sensor's physical range): raises ``out_of_range``, the reading goes no further;
- spike screen: causal Hampel over the channel's previous ``spike_window`` in-range readings (median,
  MAD; scale max(1.4826·MAD, 0.1 % of the range, 1.2533·long-run mean absolute deviation, an
  exponential mean over 4 windows)); a candidate is held, confirmed as a step by a next candidate on
  the same side, else it was a spike (``spike`` raised, cleared after ``spike_window`` clean
  readings); held readings feed no other rule;
- thresholds: graded limits with hysteresis (each level latched), the lower red limit on the same
  rule;
- rate: the core's robust rate over slots: the window (a day) in 32 slots on the core's slot grid
  (``analytics.robust.stagger`` phases), judged at each reading that opens a slot over the previous
  31 slots and that reading, Hampel on slot means (3·1.4826·MAD), least squares over the readings of
  the kept slots, at least ``min_samples`` readings spanning half the window, the slope shrunk by its
  one-sided 95 % t margin, graded per day;
- stuck (no change over ``stuck_window_s`` and ``stuck_min_samples``) and silent (a gap over
  ``silent_s``);
- every rule's grade held ``min_hold_s`` after it last reached a level before it may fall.

Events come out as (ts, channel, rule, grade, state), the state as the alarm book names it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from analytics.robust import stagger
from gateway.config.meaning_quality import RANGE_SHARE
from smartsite.bench.data import BenchRules

MAD_SCALE = 1.4826
MEAN_AD_SCALE = 1.2533
LONG_RUN_WINDOWS = 4
RATE_SLOTS = 32
CONFIDENCE = 0.95

Event = tuple[float, str, str, int, str]  # ts, channel, rule, grade, state


def _network(n: int) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sort: the compare-exchange pairs that sort ``n`` (a power of 2) items."""
    pairs: list[tuple[int, int]] = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


def _median(frame: pl.DataFrame, columns: list[pl.Expr], name: str) -> pl.DataFrame:
    """``frame`` with column ``name``: the median across a few columns, row by row, by a sorting
    network of min/max, pair by pair (polars' list median sorts every row's list, about 10x slower
    here). Null (a channel's first rows) sorts last as +inf; the result counts only where the row
    has all of them (``judged``)."""
    m = len(columns)
    n = 1 << max(0, (m - 1).bit_length())
    tmp = [f"_s{i}" for i in range(n)]
    frame = frame.with_columns(
        *[c.fill_null(math.inf).alias(t) for c, t in zip(columns, tmp, strict=False)],
        *[pl.lit(math.inf).alias(t) for t in tmp[m:]],
    )
    layer: list[tuple[int, int]] = []
    for a, b in [*_network(n), (-1, -1)]:
        if a < 0 or any({a, b} & {x, y} for x, y in layer):  # a layer of disjoint pairs at once
            frame = frame.with_columns(
                *[pl.min_horizontal(tmp[x], tmp[y]).alias(tmp[x]) for x, y in layer],
                *[pl.max_horizontal(tmp[x], tmp[y]).alias(tmp[y]) for x, y in layer],
            )
            layer = []
        layer.append((a, b))
    mid = pl.col(tmp[m // 2]) if m % 2 else 0.5 * (pl.col(tmp[m // 2 - 1]) + pl.col(tmp[m // 2]))
    return frame.with_columns(mid.alias(name)).drop(tmp)


def _levels(value: pl.Expr, limits: tuple[float, ...], h: float, upward: bool) -> pl.Expr:
    """Graded limits with hysteresis: each level latched on at its limit, off beyond limit ∓ h."""
    grade = pl.lit(0, dtype=pl.Int8)
    for limit in limits:
        if math.isnan(limit):
            continue
        on, off = (value >= limit, value < limit - h) if upward else (value <= limit, value > limit + h)
        latch = pl.when(on).then(1).when(off).then(0).otherwise(None).forward_fill().over("ch").fill_null(0)
        grade = grade + latch.cast(pl.Int8)
    return grade


def _held(frame: pl.DataFrame, raw: str, hold_s: float) -> pl.Series:
    """The grade as shown: a level the rule fell below stays on until ``hold_s`` after the fall,
    unless reached again by then (the max of the grades before each fall within the hold)."""
    out = frame.select(
        pl.max_horizontal(
            pl.col(raw),
            pl.col(raw)
            .shift(1)
            .over("ch")
            .fill_null(0)
            .rolling_max_by("ts_dt", window_size=f"{int(hold_s * 1000)}ms", closed="right")
            .over("ch"),
        ).alias("g")
    )
    return out["g"]


def _events(frame: pl.DataFrame, grade: pl.Series, rule: str, ids: list[str]) -> list[Event]:
    """Changes of a grade column into events."""
    changes = (
        frame.select("ts", "ch")
        .with_columns(g=grade)
        .with_columns(prev=pl.col("g").shift(1).over("ch").fill_null(0))
        .filter(pl.col("g") != pl.col("prev"))
        .with_columns(
            state=pl.when(pl.col("prev") == 0)
            .then(pl.lit("raised"))
            .when(pl.col("g") == 0)
            .then(pl.lit("cleared"))
            .when(pl.col("g") > pl.col("prev"))
            .then(pl.lit("escalated"))
            .otherwise(pl.lit("deescalated"))
        )
    )
    return [
        (ts, ids[ch], rule, int(g), state)
        for ts, ch, g, state in changes.select("ts", "ch", "g", "state").iter_rows()
    ]


def read(path: Path, ids: list[str]) -> pl.DataFrame:
    """The CSV as (ts seconds, ts datetime, channel index, value), sorted by channel then time."""
    frame = pl.read_csv(path, schema={"ts": pl.String, "channel": pl.String, "value": pl.Float64})
    return (
        frame.with_columns(
            ts_dt=pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_unit="ms", time_zone="UTC"),
            ch=pl.col("channel").cast(pl.Enum(ids)).to_physical().cast(pl.Int32),
        )
        .with_columns(ts=pl.col("ts_dt").dt.epoch("ms").cast(pl.Float64) / 1000.0)
        .drop("channel")
        .sort("ch", maintain_order=True)  # the file is in time order: stable by channel
    )


def run(path: Path, ids: list[str], r: BenchRules, rules: dict[str, str]) -> list[Event]:
    """Every rule over the recording; ``rules`` names the rule ids (threshold, rate, quality)."""
    frame = read(path, ids)
    # Readings not newer than their channel's newest so far.
    frame = frame.filter((pl.col("ts") > pl.col("ts").cum_max().shift(1).over("ch")).fill_null(True))
    events: list[Event] = []
    hold = r.min_hold_s
    quality = rules["quality"]
    # Out of range.
    frame = frame.with_columns(oor=((pl.col("value") < r.range_low) | (pl.col("value") > r.range_high)))
    events += _events(frame, frame["oor"].cast(pl.Int8), f"{quality}.out_of_range", ids)
    frame = frame.filter(~pl.col("oor"))
    # Silent: a gap longer than silent_s between readings (raised at its end, cleared by the reading).
    gaps = frame.with_columns(before=pl.col("ts").shift(1).over("ch")).filter(
        pl.col("ts") - pl.col("before") > r.silent_s
    )
    for ts, before, ch in gaps.select("ts", "before", "ch").iter_rows():
        silent = f"{quality}.silent"
        events += [(before + r.silent_s, ids[ch], silent, 1, "raised"), (ts, ids[ch], silent, 0, "cleared")]
    # Spike screen.
    w = r.spike_window
    a = 1.0 / (LONG_RUN_WINDOWS * w)
    base_floor = RANGE_SHARE * (r.range_high - r.range_low)
    v = pl.col("value")
    lags = [v.shift(i).over("ch") for i in range(1, w + 1)]
    frame = _median(frame, lags, "med").with_columns(judged=pl.int_range(pl.len()).over("ch") >= w)
    frame = _median(frame, [(lag - pl.col("med")).abs() for lag in lags], "mad")
    frame = frame.with_columns(
        dev=(v - pl.col("med")).abs(),
    ).with_columns(base=pl.max_horizontal(MAD_SCALE * pl.col("mad"), pl.lit(base_floor)))
    frame = frame.with_columns(
        clipped=pl.when(pl.col("judged")).then(pl.min_horizontal(pl.col("dev"), r.spike_k * pl.col("base")))
    ).with_columns(
        long_run=MEAN_AD_SCALE
        * pl.col("clipped")
        .ewm_mean(alpha=a, adjust=True, ignore_nulls=True)
        .shift(1)
        .over("ch")
        .fill_null(0.0)
    )
    frame = frame.with_columns(
        cand=pl.col("judged")
        & (
            pl.col("dev")
            > pl.max_horizontal(r.spike_k * pl.max_horizontal("base", "long_run"), pl.lit(r.spike_min_jump))
        )
    ).with_columns(side=pl.when(pl.col("cand")).then((v - pl.col("med")).sign()).otherwise(0.0))
    prev_cand = pl.col("cand").shift(1).over("ch").fill_null(False)
    prev_side = pl.col("side").shift(1).over("ch").fill_null(0.0)
    frame = frame.with_columns(confirms=pl.col("cand") & prev_cand & (pl.col("side") == prev_side))
    frame = frame.with_columns(held=pl.col("cand") & ~pl.col("confirms"))
    frame = frame.with_columns(
        detect=pl.col("held").shift(1).over("ch").fill_null(False) & ~pl.col("confirms")
    )
    frame = frame.with_columns(
        clean=(~pl.col("held") & ~pl.col("detect")).cast(pl.Int32).cum_sum().over("ch")
    )
    since = pl.col("clean") - pl.when(pl.col("detect")).then(pl.col("clean")).forward_fill().over("ch")
    frame = frame.with_columns(spike=(since < w).fill_null(False).cast(pl.Int8))
    events += _events(frame, _held(frame, "spike", hold), f"{quality}.spike", ids)
    used = frame.filter(~pl.col("held")).select("ts", "ts_dt", "ch", "value")
    # Thresholds (both sides one rule, as the core holds them).
    yellow, orange, red = r.upper
    used = used.with_columns(
        up=_levels(pl.col("value"), (yellow, orange, red), r.hysteresis, True),
        down=_levels(pl.col("value"), (r.lower_red,), r.hysteresis, False) * 3,
    ).with_columns(disp=pl.max_horizontal("up", "down"))
    events += _events(used, _held(used, "disp", hold), rules["threshold"], ids)
    # Stuck: a run of equal values with enough readings over long enough.
    new_run = (pl.col("value") != pl.col("value").shift(1)) | (pl.col("ch") != pl.col("ch").shift(1))
    row = pl.int_range(pl.len())
    used = used.with_columns(
        run_n=row - pl.when(new_run.fill_null(True)).then(row).forward_fill() + 1,
        run_t=pl.col("ts") - pl.when(new_run.fill_null(True)).then(pl.col("ts")).forward_fill(),
    ).with_columns(
        stuck=((pl.col("run_n") >= r.stuck_min_samples) & (pl.col("run_t") >= r.stuck_window_s)).cast(pl.Int8)
    )
    events += _events(used, used["stuck"], f"{quality}.stuck", ids)
    if r.rate:
        events += _rate(used, ids, r, rules["rate"])
    events.sort(key=lambda e: (e[0], ids.index(e[1]), e[2]))
    return events


def _rate(used: pl.DataFrame, ids: list[str], r: BenchRules, rule: str) -> list[Event]:
    slot_s = r.rate_window_s / RATE_SLOTS
    phases = pl.DataFrame({"ch": np.arange(len(ids), dtype=np.int32), "phase": stagger(len(ids)) * slot_s})
    frame = used.select("ts", "ts_dt", "ch", "value").join(phases, on="ch", how="left", maintain_order="left")
    frame = frame.with_columns(sid=((pl.col("ts") - pl.col("phase")) / slot_s).floor().cast(pl.Int64))
    frame = frame.with_columns(x=pl.col("ts") - pl.col("phase") - pl.col("sid") * slot_s)  # from slot start
    slots = frame.group_by("ch", "sid").agg(
        n=pl.len(),
        sx=pl.col("x").sum(),
        sv=pl.col("value").sum(),
        sxx=(pl.col("x") ** 2).sum(),
        sxv=(pl.col("x") * pl.col("value")).sum(),
        svv=(pl.col("value") ** 2).sum(),
    )
    opens = (
        frame.with_columns(first=(pl.col("sid") != pl.col("sid").shift(1).over("ch")).fill_null(True))
        .filter("first")
        .with_row_index("e")
        .select("e", "ch", "sid", "ts", "x", "value")
    )
    # The window of every evaluation: its row's previous 31 slot numbers, and the evaluating reading.
    before = (
        opens.select("e", "ch", j="sid")
        .join(pl.DataFrame({"u": list(range(-(RATE_SLOTS - 1), 0))}), how="cross")
        .with_columns(sid=pl.col("j") + pl.col("u"))
        .join(slots, on=["ch", "sid"], how="inner")
        .select("e", "u", "n", "sx", "sv", "sxx", "sxv", "svv")
    )
    own = opens.select(
        "e",
        u=pl.lit(0, dtype=pl.Int64),
        n=pl.lit(1, dtype=pl.UInt32),
        sx=pl.col("x"),
        sv=pl.col("value"),
        sxx=pl.col("x") ** 2,
        sxv=pl.col("x") * pl.col("value"),
        svv=pl.col("value") ** 2,
    )
    win = pl.concat([before.with_columns(pl.col("n").cast(pl.UInt32)), own]).with_columns(
        mean=pl.col("sv") / pl.col("n")
    )
    win = win.with_columns(dev=(pl.col("mean") - pl.col("mean").median().over("e")).abs())
    win = win.with_columns(
        scale=pl.when(pl.col("dev").median().over("e") > 0)
        .then(MAD_SCALE * pl.col("dev").median().over("e"))
        .otherwise(MEAN_AD_SCALE * pl.col("dev").mean().over("e"))
    ).filter(pl.col("dev") <= r.rate_hampel_k * pl.col("scale"))
    s = slot_s
    u = pl.col("u").cast(pl.Float64)
    fits = win.group_by("e").agg(
        big_n=pl.col("n").sum().cast(pl.Float64),
        sx=(pl.col("sx") + s * u * pl.col("n")).sum(),
        sv=pl.col("sv").sum(),
        sxx=(pl.col("sxx") + s * (2.0 * u * pl.col("sx") + s * u * u * pl.col("n"))).sum(),
        sxv=(pl.col("sxv") + s * u * pl.col("sv")).sum(),
        svv=pl.col("svv").sum(),
        span=((pl.col("u").max() - pl.col("u").min() + 1) * s).cast(pl.Float64),
    )
    n = pl.col("big_n")
    fits = fits.with_columns(xm=pl.col("sx") / n, vm=pl.col("sv") / n).with_columns(
        cxx=pl.col("sxx") - pl.col("sx") * pl.col("xm"),
        cxv=pl.col("sxv") - pl.col("sx") * pl.col("vm"),
        cvv=pl.max_horizontal(pl.col("svv") - pl.col("sv") * pl.col("vm"), pl.lit(0.0)),
    )
    flat = pl.col("cvv") <= 1e-12 * pl.col("svv")
    fits = fits.with_columns(
        cxv=pl.when(flat).then(0.0).otherwise("cxv"), cvv=pl.when(flat).then(0.0).otherwise("cvv")
    )
    good = (
        (n >= max(r.rate_min_samples, 2))
        & (pl.col("cxx") > 0)
        & (pl.col("span") >= r.rate_min_coverage * r.rate_window_s)
    )
    fits = fits.with_columns(slope=pl.when(good).then(pl.col("cxv") / pl.col("cxx")))
    resid = pl.max_horizontal(pl.col("cvv") - pl.col("slope") * pl.col("cxv"), pl.lit(0.0))
    fits = fits.with_columns(
        se=pl.when(n > 2).then((resid / (n - 2) / pl.col("cxx")).sqrt()).otherwise(float("inf"))
    )
    dof = np.maximum(fits["big_n"].to_numpy() - 2.0, 1.0)
    fits = fits.with_columns(q=pl.Series(stats.t.ppf(CONFIDENCE, dof)))
    shrunk = pl.max_horizontal(pl.col("slope").abs() - pl.col("q") * pl.col("se"), pl.lit(0.0))
    fits = fits.with_columns(rate=(shrunk * pl.col("slope").sign() * r.rate_per_s))
    judged = opens.join(fits.select("e", "rate"), on="e", how="left").sort("e")
    # Graded on the judged rate (no hysteresis: the rule's default); unjudged evaluations keep it.
    judged = judged.with_columns(g=_levels(pl.col("rate"), r.rate_upper, 0.0, True).forward_fill().over("ch"))
    rated = (
        used.select("ts", "ts_dt", "ch")
        .join(judged.select("ch", "ts", "g"), on=["ch", "ts"], how="left", maintain_order="left")
        .with_columns(g=pl.col("g").forward_fill().over("ch").fill_null(0).cast(pl.Int8))
    )
    return _events(rated, _held(rated, "g", r.min_hold_s), rule, ids)
