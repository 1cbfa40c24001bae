"""CMA gale and rainstorm signals on data time: the level tables, the hold, and the streaming windows
against whole-array references."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.cma_signals import GaleWindow, RainWindow, SignalHold, gale_rank, rain_rank
from analytics.wind import wind_level


@pytest.mark.parametrize(
    ("mean", "gust", "rank"),
    [(5, 6, 0), (6, 0, 1), (0, 7, 1), (7, 8, 1), (8, 0, 2), (0, 9, 2), (9, 10, 2), (10, 0, 3), (0, 11, 3),
     (11, 12, 3), (12, 0, 4), (0, 13, 4), (17, 17, 4)],
)  # fmt: skip
def test_gale_levels(mean: int, gust: int, rank: int) -> None:
    assert gale_rank(mean, gust) == rank


@pytest.mark.parametrize(
    ("mm", "rank"),
    [((0, 0, 49.9), 0), ((0, 0, 50), 1), ((0, 50, 50), 2), ((50, 50, 50), 3), ((99.9, 100, 100), 3),
     ((100, 100, 100), 4)],
)  # fmt: skip
def test_rainstorm_amounts(mm: tuple[float, float, float], rank: int) -> None:
    assert rain_rank(*mm) == rank


def test_hold_confirms_before_issuing_and_waits_before_lowering() -> None:
    hold = SignalHold(confirm_s=300, end_after_s=1800)
    assert [hold.update(t, 1) for t in (0, 100, 299)] == [0, 0, 0]
    assert hold.update(300, 1) == 1
    assert hold.update(310, 2) == 1  # yellow met, not yet for long
    assert hold.update(400, 0) == 1  # a lull breaks yellow's run, blue stays issued
    assert hold.update(500, 2) == 1 and hold.update(800, 2) == 2
    assert hold.update(900, 1) == 2 and hold.update(2699, 1) == 2
    assert hold.update(2700, 1) == 1  # 30 min below yellow: lowered to what is met
    assert hold.update(2800, 0) == 1 and hold.update(4600, 0) == 0  # and ended


def test_gale_window_equals_the_whole_array_reference() -> None:
    rng = np.random.default_rng(7)
    ts = np.cumsum(rng.uniform(0.5, 1.5, 3000))
    speed = np.clip(12 + 4 * np.sin(ts / 300) + rng.normal(0, 2, ts.size), 0, None)
    window = GaleWindow(600.0)
    got = [window.add(t, v) for t, v in zip(ts.tolist(), speed.tolist(), strict=True)]
    for i in (10, 700, 1500, 2999):
        t = ts[i]
        mean = speed[(ts > t - 600) & (ts <= t)].mean()
        three = [speed[(ts > ts[j] - 3) & (ts <= ts[j])].mean() for j in range(i + 1) if ts[j] > t - 600]
        assert got[i].mean == pytest.approx(mean, rel=1e-9)
        assert got[i].gust == pytest.approx(max(three), rel=1e-9)
        assert got[i].mean_level == int(wind_level(mean)) and got[i].gust_level == int(wind_level(max(three)))


def test_rain_from_tips_and_from_a_total_that_resets() -> None:
    tips = RainWindow(accumulated=False, mm_per_unit=0.2)
    # 260 tips of 0.2 mm over 2 h: 52 mm in 3 h -> orange.
    last = [tips.add(i * 27.7, 1.0) for i in range(260)][-1]
    assert last.mm_3h == pytest.approx(52.0) and last.rank == 3
    # 12 h later the windows have emptied.
    assert tips.add(260 * 27.7 + 12 * 3600, 0.0).rank == 0
    total = RainWindow(accumulated=True)
    readings = [(0, 300.0), (600, 310.0), (1200, 340.0), (1800, 5.0), (2400, 20.0)]  # reset at 1800
    got = [total.add(t, v) for t, v in readings]
    assert [g.mm_3h for g in got] == [0.0, 10.0, 40.0, 45.0, 60.0]
    assert got[-1].rank == 3
