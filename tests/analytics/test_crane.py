"""Crane load chart and ratio channels: interpolation, as-of join of the radius, streaming equals batch."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from analytics.crane import CraneDeriver, LoadChart
from analytics.rounds import occurrence_rank, to_block
from tests.analytics.reference import random_cuts

F64 = npt.NDArray[np.float64]
BAD = 0x10

CHART = LoadChart.from_pairs([(2.5, 10.0), (15.0, 10.0), (30.0, 4.5), (50.0, 2.0)])


def test_chart_interpolates_linearly_and_is_flat_beyond_ends() -> None:
    r = np.array([0.0, 2.5, 10.0, 15.0, 22.5, 30.0, 40.0, 50.0, 70.0])
    np.testing.assert_allclose(CHART.rated_load(r), [10, 10, 10, 10, 7.25, 4.5, 3.25, 2.0, 2.0])
    moments = np.array([25.0, 150.0, 135.0, 100.0])
    np.testing.assert_allclose(CHART.rated_moment([2.5, 15.0, 30.0, 50.0, 60.0]), [*moments, 100.0])
    np.testing.assert_allclose(CHART.rated_moment(40.0), 117.5)


@pytest.mark.parametrize(
    ("radius", "rated"),
    [([5.0, 5.0], [1.0, 1.0]), ([10.0, 5.0], [1.0, 1.0]), ([5.0, 10.0], [1.0, 0.0]), ([1.0], [1.0, 2.0])],
)
def test_chart_rejects_bad_tables(radius: list[float], rated: list[float]) -> None:
    with pytest.raises(ValueError):
        LoadChart(radius, rated)


def test_one_point_chart_is_flat() -> None:
    chart = LoadChart([20.0], [3.0])
    np.testing.assert_allclose(chart.rated_load([1.0, 20.0, 60.0]), 3.0)


# Columns: per crane c: load 4c, radius 4c+1, load_ratio 4c+2, moment_ratio 4c+3.
def deriver_for(charts: list[LoadChart]) -> CraneDeriver:
    c = np.arange(len(charts))
    return CraneDeriver(4 * c, 4 * c + 1, 4 * c + 2, 4 * c + 3, charts)


def random_crane_stream(
    rng: np.random.Generator, cranes: int, n: int
) -> tuple[F64, npt.NDArray[np.int32], F64, npt.NDArray[np.uint8]]:
    """Load and radius readings at their own irregular times (no two equal), some bad or NaN."""
    parts = []
    for c in range(cranes):
        for which, lo, hi in ((0, 0.0, 12.0), (1, 1.0, 60.0)):
            ts = 1000.0 + np.cumsum(rng.uniform(0.1, 3.0, n)) + rng.uniform(0, 1e-3)
            v = rng.uniform(lo, hi, n)
            q = np.where(rng.random(n) < 0.05, BAD, 0).astype(np.uint8)
            v[rng.random(n) < 0.03] = np.nan
            parts.append((ts, np.full(n, 4 * c + which, dtype=np.int32), v, q))
    ts, ch, v, q = (np.concatenate(p) for p in zip(*parts, strict=True))
    order = np.lexsort((ch, ts))
    return ts[order], ch[order], v[order], q[order]


def feed(deriver: CraneDeriver, stream: tuple, cuts: list[tuple[int, int]], n_cols: int) -> dict[str, F64]:
    ts_all = stream[0]
    out = {"load_ratio": np.full(len(ts_all), np.nan), "moment_ratio": np.full(len(ts_all), np.nan)}
    for a, b in cuts:
        ts, ch, v, q = (x[a:b] for x in stream)
        block = to_block(ts, ch, v, q, n_cols)
        deriver.derive(block)
        order = np.lexsort((ts, ch))
        rows = occurrence_rank(ch[order])
        c = ch[order]
        loads = c % 4 == 0
        for off, name in ((2, "load_ratio"), (3, "moment_ratio")):
            col = c[loads] + off
            np.testing.assert_array_equal(block.ts[rows[loads], col], ts[order][loads])
            out[name][a + order[loads]] = np.where(
                block.usable[rows[loads], col], block.value[rows[loads], col], np.nan
            )
    return out


def reference(stream: tuple, charts: list[LoadChart]) -> dict[str, F64]:
    ts, ch, v, q = stream
    out = {"load_ratio": np.full(len(ts), np.nan), "moment_ratio": np.full(len(ts), np.nan)}
    radius = [np.nan] * len(charts)
    for i in range(len(ts)):
        c, kind = divmod(int(ch[i]), 4)
        good = q[i] < BAD and np.isfinite(v[i])
        if kind == 1 and good:
            radius[c] = v[i]
        elif kind == 0 and good and np.isfinite(radius[c]):
            r = radius[c]
            out["load_ratio"][i] = v[i] / np.interp(r, charts[c].radius, charts[c].rated)
            out["moment_ratio"][i] = (
                v[i] * r / np.interp(r, charts[c].radius, charts[c].radius * charts[c].rated)
            )
    return out


@pytest.mark.parametrize("seed", range(5))
def test_ratios_match_reference_however_cut(seed: int) -> None:
    rng = np.random.default_rng(seed)
    charts = [CHART, LoadChart.from_pairs([(3.0, 8.0), (40.0, 1.5)]), LoadChart([10.0], [5.0])]
    stream = random_crane_stream(rng, 3, 300)
    expected = reference(stream, charts)
    assert np.isfinite(expected["load_ratio"]).sum() > 500
    for max_batch in (len(stream[0]), 1, 9, 120):
        got = feed(deriver_for(charts), stream, random_cuts(rng, len(stream[0]), max_batch), 12)
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, err_msg=name)


def test_load_uses_newest_radius_at_or_before_it() -> None:
    # radius 20 m at t=0, load 5 t at t=1, radius 30 m at t=2 and a load at t=2 (same time: uses 30 m).
    ts = np.array([0.0, 1.0, 2.0, 2.0, 3.0])
    ch = np.array([1, 0, 1, 0, 0], dtype=np.int32)
    v = np.array([20.0, 5.0, 30.0, 4.5, 9.0])
    q = np.array([0, 0, 0, 0, 0], dtype=np.uint8)
    deriver = deriver_for([CHART])
    out = feed(deriver, (ts, ch, v, q), [(0, 2), (2, 5)], 4)
    # At 20 m the chart rates 10 - 5.5 / 3 t; the rated moment is interpolated from the chart's moments
    # (150 t·m at 15 m, 135 t·m at 30 m): 145 t·m, not 20 m x the rated load.
    np.testing.assert_allclose(out["load_ratio"][[1, 3, 4]], [5 / (10 - 5.5 / 3), 1.0, 2.0])
    np.testing.assert_allclose(out["moment_ratio"][[1, 3, 4]], [5 * 20 / 145, 1.0, 2.0])
    assert deriver.last_radius[0] == 30.0


def test_load_before_any_radius_is_unusable() -> None:
    block = to_block(
        np.array([0.0]), np.array([0], dtype=np.int32), np.array([3.0]), np.zeros(1, np.uint8), 4
    )
    deriver_for([CHART]).derive(block)
    assert block.present[0, 2] and not block.usable[0, 2] and np.isnan(block.value[0, 2])


def test_deriver_rejects_bad_columns() -> None:
    with pytest.raises(ValueError):
        CraneDeriver([0], [0], [2], [3], [CHART])
    with pytest.raises(ValueError):
        CraneDeriver([0], [1], [2], [2], [CHART])
    with pytest.raises(ValueError):
        CraneDeriver([0], [1], [2], [3], [])
