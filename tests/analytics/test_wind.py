"""Wind means, gust and level against a plain numpy reference; streaming equals batch; the wind judge."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from analytics.rounds import occurrence_rank, to_block
from analytics.table import TableResult
from analytics.wind import (
    LEVEL_FLOOR,
    WindDeriver,
    WindSpec,
    WindTable,
    level_floor,
    time_to_limit_s,
    wind_level,
)
from tests.analytics.reference import random_cuts

F64 = npt.NDArray[np.float64]
BAD = 0x10

# Source columns 0..W-1; the derived columns of source j follow at W + 5 j + (0..4).
QUANTITIES = ("wind_3s", "wind_2min", "wind_10min", "gust", "wind_level")


@dataclass
class Stream:
    ts: F64
    channel: npt.NDArray[np.int32]
    value: F64
    quality: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.ts)

    def part(self, a: int, b: int) -> tuple[F64, npt.NDArray[np.int32], F64, npt.NDArray[np.uint8]]:
        return self.ts[a:b], self.channel[a:b], self.value[a:b], self.quality[a:b]


def n_columns(w: int) -> int:
    return w + 5 * w


def deriver_for(w: int) -> WindDeriver:
    src = np.arange(w)
    out = [w + 5 * src + i for i in range(5)]
    return WindDeriver(src, *out)


def time_sorted(ts: F64, ch: npt.NDArray[np.int32], v: F64, q: npt.NDArray[np.uint8]) -> Stream:
    order = np.lexsort((ch, ts))
    return Stream(ts[order], ch[order].astype(np.int32), v[order], q[order].astype(np.uint8))


def random_wind(rng: np.random.Generator, w: int, n: int, dirty: bool) -> Stream:
    """Irregular readings (0.2..2.5 s apart, a few long gaps), a slowly varying wind with noise."""
    parts = []
    for c in range(w):
        step = rng.uniform(0.2, 2.5, n)
        step[rng.random(n) < 0.01] += rng.uniform(100, 900)
        ts = 1_700_000_000.0 + rng.uniform(0, 5) + np.cumsum(step)
        base = 8 + 6 * np.sin(np.cumsum(step) / rng.uniform(60, 400))
        value = np.maximum(base + rng.normal(0, 1.5, n), 0.0).round(1)
        quality = np.zeros(n, dtype=np.uint8)
        if dirty:
            quality[rng.random(n) < 0.05] = BAD
            value[rng.random(n) < 0.03] = np.nan
        parts.append((ts, np.full(n, c, dtype=np.int32), value, quality))
    return time_sorted(*(np.concatenate(p) for p in zip(*parts, strict=True)))


def cells(ch: npt.NDArray[np.int32], ts: F64) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Stream positions of a part in channel-then-time order, and their rows in its block."""
    order = np.lexsort((ts, ch))
    return order, occurrence_rank(ch[order])


def feed(deriver: WindDeriver, stream: Stream, cuts: list[tuple[int, int]], n_cols: int) -> dict[str, F64]:
    """Derived values per stream reading (NaN where none), and whether usable."""
    w = len(deriver)
    out = {q: np.full(len(stream), np.nan) for q in QUANTITIES}
    out["usable"] = np.zeros(len(stream))
    for a, b in cuts:
        ts, ch, v, q = stream.part(a, b)
        block = to_block(ts, ch, v, q, n_cols)
        deriver.derive(block)
        order, rows = cells(ch, ts)
        c = ch[order]
        for i, name in enumerate(QUANTITIES):
            col = w + 5 * c + i
            np.testing.assert_array_equal(block.ts[rows, col], ts[order])
            out[name][a + order] = block.value[rows, col]
        out["usable"][a + order] = block.usable[rows, w + 5 * c]
    return out


def reference(stream: Stream, w: int) -> dict[str, F64]:
    """The definitions, one reading at a time: sample means of usable readings in (t - W, t]."""
    out = {q: np.full(len(stream), np.nan) for q in QUANTITIES}
    out["usable"] = np.zeros(len(stream))
    for c in range(w):
        pos = np.flatnonzero(stream.channel == c)
        t, v = stream.ts[pos], stream.value[pos]
        good = (stream.quality[pos] < BAD) & np.isfinite(v)
        gt, gv = t[good], v[good]
        m3 = np.array([gv[(gt > x - 3.0) & (gt <= x)].mean() for x in gt])
        m120 = np.array([gv[(gt > x - 120.0) & (gt <= x)].mean() for x in gt])
        m600 = np.array([gv[(gt > x - 600.0) & (gt <= x)].mean() for x in gt])
        gust = np.array([m3[(gt > x - 600.0) & (gt <= x)].max() for x in gt])
        level = np.array([_ref_level(x) for x in m120])
        for name, vals in zip(QUANTITIES, (m3, m120, m600, gust, level), strict=True):
            out[name][pos[good]] = vals
        out["usable"][pos[good]] = 1
    return out


def _ref_level(speed: float) -> float:
    # Table 1 of GB/T 28591-2012 as (level, upper bound in m/s); above 56.0 is level 17.
    upper = [0.2, 1.5, 3.3, 5.4, 7.9, 10.7, 13.8, 17.1, 20.7, 24.4, 28.4, 32.6, 36.9, 41.4, 46.1, 50.9, 56.0]
    for level, top in enumerate(upper):
        if speed < top + 0.1 - 1e-6:  # the next level starts 0.1 m/s above this one's upper bound
            return float(level)
    return 17.0


def assert_same(a: dict[str, F64], b: dict[str, F64]) -> None:
    for name in (*QUANTITIES, "usable"):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-12, atol=1e-9, err_msg=name)


# --- level table ------------------------------------------------------------------------------------


def test_level_boundaries() -> None:
    speeds = [10.7, 10.8, 56.1, 0.2, 0.3, 0.0, 13.8, 13.9, 7.9, 8.0, 10.75, 80.0, np.nan]
    expected = [5, 6, 17, 0, 1, 0, 6, 7, 4, 5, 5, 17, np.nan]
    np.testing.assert_array_equal(wind_level(speeds), expected)


def test_every_level_starts_at_its_floor() -> None:
    for level in range(1, 18):
        floor = level_floor(level)
        assert wind_level([floor])[0] == level
        assert wind_level([floor - 0.1])[0] == level - 1
        assert wind_level([floor - 1e-9])[0] == level  # a mean computed as 10.7999999999 is level 6
    assert level_floor(0) == 0.0
    assert level_floor(6) == 10.8
    assert len(LEVEL_FLOOR) == 17
    with pytest.raises(ValueError):
        level_floor(18)


# --- deriver ----------------------------------------------------------------------------------------


def test_known_three_second_means() -> None:
    """1 Hz readings whose 3-s blocks have known means: means, gust and level follow from them."""
    blocks = np.array([4.0, 6.0, 12.0, 30.0, 9.0] + [7.0] * 250)
    values = np.repeat(blocks, 3)  # each 3-s block constant
    ts = 1000.0 + np.arange(len(values), dtype=np.float64)
    stream = time_sorted(ts, np.zeros(len(ts), dtype=np.int32), values, np.zeros(len(ts), dtype=np.uint8))
    out = feed(deriver_for(1), stream, [(0, len(stream))], n_columns(1))
    ends = np.arange(2, len(values), 3)  # the last reading of each 3-s block
    np.testing.assert_allclose(out["wind_3s"][ends], blocks)
    # The gust is the 30 m/s block until it leaves the 10-min window.
    t_ends = ts[ends]
    in_window = t_ends - ts[11] < 600.0
    np.testing.assert_allclose(out["gust"][ends][(t_ends >= ts[11]) & in_window], 30.0)
    assert out["gust"][-1] == pytest.approx(7.0)
    # Long after the storm: every mean is the steady 7 m/s, level 4.
    assert out["wind_2min"][-1] == pytest.approx(7.0)
    assert out["wind_10min"][-1] == pytest.approx(7.0)
    assert out["wind_level"][-1] == 4
    # Two minutes in: the mean of everything so far (fewer than 120 readings at start-up).
    np.testing.assert_allclose(out["wind_2min"][:120], np.cumsum(values[:120]) / np.arange(1, 121))


def test_steady_level_six_is_level_six() -> None:
    n = 3000
    ts = np.arange(n, dtype=np.float64) * 0.5
    stream = time_sorted(ts, np.zeros(n, dtype=np.int32), np.full(n, 10.8), np.zeros(n, dtype=np.uint8))
    out = feed(deriver_for(1), stream, random_cuts(np.random.default_rng(1), n, 50), n_columns(1))
    assert (out["wind_level"] == 6).all()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dirty", [False, True], ids=["clean", "dirty"])
def test_matches_reference_however_cut(seed: int, dirty: bool) -> None:
    rng = np.random.default_rng(seed)
    w = int(rng.integers(1, 4))
    stream = random_wind(rng, w, int(rng.integers(200, 700)), dirty)
    expected = reference(stream, w)
    n_cols = n_columns(w)
    whole = feed(deriver_for(w), stream, [(0, len(stream))], n_cols)
    assert_same(whole, expected)
    for max_batch in (1, 7, 40, 400):
        streamed = feed(deriver_for(w), stream, random_cuts(rng, len(stream), max_batch), n_cols)
        assert_same(streamed, expected)


def test_unusable_readings_are_marked_and_skipped() -> None:
    ts = np.arange(10, dtype=np.float64)
    v = np.array([5.0, 5, 100, 5, np.nan, 5, 5, 5, 5, 5])
    q = np.zeros(10, dtype=np.uint8)
    q[2] = BAD  # the 100 m/s reading is bad: no mean may see it
    stream = time_sorted(ts, np.zeros(10, dtype=np.int32), v, q)
    out = feed(deriver_for(1), stream, [(0, 4), (4, 10)], n_columns(1))
    assert np.isnan(out["wind_3s"][[2, 4]]).all()
    assert (out["usable"][[2, 4]] == 0).all()
    np.testing.assert_allclose(out["gust"][[0, 1, 3, 5, 9]], 5.0)


def test_deriver_rejects_overlapping_columns() -> None:
    with pytest.raises(ValueError):
        WindDeriver([0], [1], [1], [2], [3], [4])
    with pytest.raises(ValueError):
        WindDeriver([0, 1], [2], [3], [4], [5], [6])


# --- forecast ---------------------------------------------------------------------------------------


def test_time_to_limit_rising_line() -> None:
    t = np.arange(0.0, 600.0)
    v = 5.0 + 0.005 * t
    # The line reaches 10.8 at t = 1160, 561 s after the newest point.
    assert time_to_limit_s(t, v, 10.8) == pytest.approx(561.0)
    assert time_to_limit_s(t, v, 10.8, now=700.0) == pytest.approx(460.0)
    assert time_to_limit_s(t, v, 6.0) == 0.0  # already past it
    assert math.isnan(time_to_limit_s(t, 10 - 0.005 * t, 10.8))  # falling: no forecast
    assert math.isnan(time_to_limit_s(t, np.full(600, 7.0), 10.8))  # flat: no forecast
    assert math.isnan(time_to_limit_s(t[:2], v[:2], 10.8))  # too few points


def test_time_to_limit_columns_ignore_nan() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(0.0, 300.0)
    slopes = np.array([0.01, 0.02, -0.01])
    v = 4.0 + t[:, None] * slopes + rng.normal(0, 0.2, (300, 3))
    holes = v.copy()
    holes[rng.random(holes.shape) < 0.3] = np.nan
    got = time_to_limit_s(np.broadcast_to(t[:, None], holes.shape), holes, np.array([10.8, 10.8, 10.8]))
    for j in range(2):
        ok = np.isfinite(holes[:, j])
        slope, icpt = np.polyfit(t[ok], holes[ok, j], 1)
        assert got[j] == pytest.approx((10.8 - icpt) / slope - t[ok].max())
    assert math.isnan(got[2])


# --- judge ------------------------------------------------------------------------------------------

Event = tuple[float, int, int, int, float, float]


def judge_reference(t: F64, mean: F64, gust: F64, ok: npt.NDArray[np.bool_], spec: WindSpec) -> list[Event]:
    """The wind judge's definition for one channel, reading by reading (grade 3 on the gust)."""
    bounds = [level_floor(spec.watch_level), level_floor(spec.stop_lifting_level), spec.working_limit]
    tol = [1e-6, 1e-6, 0.0]
    on = [False, False, False]
    events: list[Event] = []
    for i in range(len(t)):
        if not ok[i]:
            continue
        old = max([g + 1 for g in range(3) if on[g]], default=0)
        for g, x in enumerate((mean[i], mean[i], gust[i])):
            if x >= bounds[g] - tol[g]:
                on[g] = True
            elif x < bounds[g] - tol[g] - spec.hysteresis:
                on[g] = False
        new = max([g + 1 for g in range(3) if on[g]], default=0)
        if new != old:
            by_gust = new == 3 if new else old == 3
            value = gust[i] if by_gust else mean[i]
            limit = bounds[2] if by_gust else bounds[max(new, 1) - 1]
            events.append((t[i], 0, old, new, value, limit))
    return events


def run_table(
    stream: Stream, w: int, spec_kw: dict[str, float], cuts: list[tuple[int, int]]
) -> tuple[list[Event], TableResult, dict[str, F64]]:
    deriver = deriver_for(w)
    src = np.arange(w, dtype=np.int32)
    mean_name = spec_kw.pop("mean", "wind_2min")
    mean_i = QUANTITIES.index(str(mean_name))
    spec = WindSpec(
        rule=7, channels=src, mean=(w + 5 * src + mean_i).astype(np.int32),
        gust=(w + 5 * src + QUANTITIES.index("gust")).astype(np.int32), **spec_kw,  # type: ignore[arg-type]
    )  # fmt: skip
    spec_kw["mean"] = mean_name  # type: ignore[assignment]
    table = WindTable([spec])
    parts = []
    for a, b in cuts:
        block = to_block(*stream.part(a, b), n_columns(w))
        deriver.derive(block)
        parts.append(table.evaluate(block))
    res = TableResult.concat(parts)
    events = [
        (float(res.ts[i]), int(res.row[i]), int(res.old_grade[i]), int(res.new_grade[i]),
         float(res.value[i]), float(res.limit[i]))
        for i in range(len(res))
    ]  # fmt: skip
    return sorted(events, key=lambda e: (e[1], e[0])), res, {"grade": table.grade.astype(np.float64)}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("mean", ["wind_2min", "wind_10min"])
def test_judge_matches_reference_however_cut(seed: int, mean: str) -> None:
    rng = np.random.default_rng(50 + seed)
    w = int(rng.integers(1, 3))
    stream = random_wind(rng, w, 700, dirty=True)
    kw: dict[str, float] = {
        "watch_level": int(rng.integers(3, 6)),
        "stop_lifting_level": 6,
        "working_limit": float(rng.uniform(12, 16)),
        "hysteresis": float(rng.uniform(0, 1)),
    }
    ref = reference(stream, w)
    spec = WindSpec(0, np.zeros(1, np.int32), np.zeros(1, np.int32), np.zeros(1, np.int32), **kw)  # type: ignore[arg-type]
    expected: list[Event] = []
    for c in range(w):
        pos = np.flatnonzero(stream.channel == c)
        evs = judge_reference(stream.ts[pos], ref[mean][pos], ref["gust"][pos], ref["usable"][pos] > 0, spec)
        expected += [(e[0], c, e[2], e[3], e[4], e[5]) for e in evs]
    expected.sort(key=lambda e: (e[1], e[0]))
    assert expected, "the random wind should raise some grade"
    kw["mean"] = mean  # type: ignore[assignment]
    whole, res, _ = run_table(stream, w, dict(kw), [(0, len(stream))])
    _assert_events(whole, expected)
    assert np.all(np.diff(res.ts[res.row == 0]) >= 0)
    for max_batch in (1, 25, 500):
        cut, _, _ = run_table(stream, w, dict(kw), random_cuts(rng, len(stream), max_batch))
        _assert_events(cut, expected)


def _assert_events(got: list[Event], expected: list[Event]) -> None:
    assert [e[:4] for e in got] == [e[:4] for e in expected]
    np.testing.assert_allclose([e[4:] for e in got], [e[4:] for e in expected], rtol=1e-9)


def test_judge_forecasts_rising_wind() -> None:
    """A wind rising steadily through level 5 gets a time to the stop-lifting boundary (10.8)."""
    n = 1800
    ts = 1000.0 + np.arange(n, dtype=np.float64)
    v = 6.0 + 0.003 * np.arange(n, dtype=np.float64)  # 6 -> 11.4 m/s over 30 min
    stream = time_sorted(ts, np.zeros(n, dtype=np.int32), v, np.zeros(n, dtype=np.uint8))
    kw: dict[str, float] = {"watch_level": 5, "stop_lifting_level": 6, "working_limit": 20.0}
    events, res, _ = run_table(stream, 1, dict(kw), [(0, n)])
    assert [(e[2], e[3]) for e in events] == [(0, 1), (1, 2)]
    watch = int(np.flatnonzero(res.new_grade == 1)[0])
    assert res.limit[watch] == 8.0 and res.limit[1] == 10.8
    # The 2-min mean lags the wind by 60 s and rises at 0.003 m/s/s.
    assert res.value[watch] == pytest.approx(8.0, abs=0.01)
    assert res.time_to_limit_s[watch] == pytest.approx((10.8 - 8.0) / 0.003, rel=0.02)
    assert math.isnan(res.time_to_limit_s[1])  # already at the boundary: no forecast
    _, cut, _ = run_table(stream, 1, dict(kw), random_cuts(np.random.default_rng(0), n, 30))
    np.testing.assert_allclose(cut.time_to_limit_s, res.time_to_limit_s, rtol=1e-9)


def test_judge_working_limit_and_clearing() -> None:
    """A squall: the gust crosses the working limit (grade 3), held while the squall's 3-s means
    are in the gust's 10 minutes, then the grade falls back."""
    n = 1000
    ts = np.arange(n, dtype=np.float64)
    v = np.full(n, 3.0)
    v[200:206] = 25.0
    stream = time_sorted(ts, np.zeros(n, dtype=np.int32), v, np.zeros(n, dtype=np.uint8))
    kw: dict[str, float] = {"working_limit": 20.0, "hysteresis": 0.5}
    events, res, state = run_table(stream, 1, dict(kw), [(0, n)])
    assert [(e[2], e[3]) for e in events] == [(0, 3), (3, 0)]
    assert res.ts[0] == 202.0  # the first 3-s mean of 25 m/s
    assert res.value[0] == pytest.approx(25.0) and res.limit[0] == 20.0
    # The last 3-s mean at or above 19.5 m/s is at 205 s; it leaves the gust's window at 805 s,
    # leaving the largest 3-s mean after it: (25 + 25 + 3) / 3 at 206 s.
    assert res.ts[1] == 805.0
    assert res.limit[1] == 20.0 and res.value[1] == pytest.approx(53.0 / 3)
    assert state["grade"][0] == 0
    assert len(WindTable([]).evaluate(to_block(*stream.part(0, 5), n_columns(1)))) == 0


def test_long_runs_keep_precision() -> None:
    """Running sums are re-based once large; the means stay those of the readings."""
    rng = np.random.default_rng(9)
    n = 3000
    ts = np.arange(n, dtype=np.float64)
    v = 8000.0 + rng.normal(0, 50, n).round(1)  # the running sum passes 2**24 after ~2100 readings
    stream = time_sorted(ts, np.zeros(n, dtype=np.int32), v, np.zeros(n, dtype=np.uint8))
    expected = reference(stream, 1)
    got = feed(deriver_for(1), stream, random_cuts(rng, n, 300), n_columns(1))
    for name in QUANTITIES[:4]:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, err_msg=name)
