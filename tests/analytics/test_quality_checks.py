"""Quality checks case by case: spikes on a quiet channel, stuck, silent (gaps and ticks), range, NaN."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from analytics.quality import BAD_RANGE, QualitySpec, QualityTable, SpikeScreen
from analytics.rounds import to_block
from analytics.table import Block, TableResult

T0 = 1.7e9


def one_channel(ts: np.ndarray, value: np.ndarray, quality: np.ndarray | None = None) -> Block:
    q = np.zeros(len(ts), dtype=np.uint8) if quality is None else quality.astype(np.uint8)
    return to_block(ts.astype(float), np.zeros(len(ts), dtype=np.int32), value.astype(float), q, 1)


def spec(**kw: Any) -> QualitySpec:
    base: dict[str, Any] = {
        "rule": 0,
        "channels": np.array([0], dtype=np.int32),
        "silent_s": None,
        "stuck_window_s": None,
        "out_of_range": False,
        "spike_k": None,
    }
    base.update(kw)
    return QualitySpec(**base)


def run(table: QualityTable, block: Block) -> TableResult:
    table.screen.screen(block)
    return table.evaluate(block)


def changes(table: QualityTable, res: TableResult) -> list[tuple[str, float, int, int]]:
    return [
        (str(table.check_name[r]), float(t), int(o), int(n))
        for r, t, o, n in zip(res.row, res.ts, res.old_grade, res.new_grade, strict=True)
    ]


def test_isolated_spikes_on_a_quiet_channel_are_screened_and_alarmed() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    ts = T0 + 60.0 * np.arange(n)
    value = 12.0 + rng.normal(0, 0.5, n)  # mm, σ 0.5 mm
    spikes = np.sort(rng.choice(np.arange(50, n - 50, 40), size=40, replace=False))
    value[spikes] += rng.choice([-50.0, 50.0], size=len(spikes))
    table = QualityTable([spec(spike_k=6.0, spike_window=15, grade=2)])
    block = one_channel(ts, value)
    res = run(table, block)

    found = table.screen.found[:, 0]
    assert found[spikes].all(), "every 50 mm spike is caught"
    assert found.sum() - len(spikes) <= n * 0.002, "hardly any noise is taken for a spike"
    # Value and rate rules never see them: the spikes are not usable, every usable reading is quiet.
    assert not block.usable[spikes, 0].any()
    assert np.abs(block.value[block.usable[:, 0], 0] - 12.0).max() < 5.0
    got = changes(table, res)
    assert all(c == "spike" for c, *_ in got)
    # A spike is known at the next reading (it does not confirm a step): the alarm stands from there.
    for t in ts[spikes + 1]:
        last = [nw for _, tc, _, nw in got if tc <= t][-1]
        assert last == 2
    assert sum(1 for *_, nw in got if nw == 2) >= len(spikes) - 2
    assert {float(t) for _, t, _, nw in got if nw == 2} <= set(ts[spikes + 1].tolist())
    # Each alarm clears after 15 clean readings; spikes are 40 readings apart.
    assert [nw for *_, nw in got] == [2, 0] * (len(got) // 2)
    assert table.grade[0] == 0


def test_spike_alarm_carries_deviation_and_threshold() -> None:
    ts = T0 + np.arange(40.0)
    value = np.tile([0.0, 0.1, -0.1, 0.2, -0.2], 8)
    value[30] = 9.0
    table = QualityTable([spec(spike_k=6.0, spike_window=15, spike_min_jump=1.0)])
    res = run(table, one_channel(ts, value))
    assert len(res) == 1  # reading 30 held, a spike once reading 31 comes back; not yet clear
    assert res.ts[0] == ts[31]
    assert res.value[0] == pytest.approx(9.0)
    assert res.limit[0] == pytest.approx(max(6.0 * 1.4826 * 0.1, 1.0))


def test_flat_channel_flags_only_jumps_beyond_the_floor() -> None:
    ts = T0 + np.arange(60.0)
    value = np.full(60, 5.0)
    value[20] = 5.4  # below min_jump: a flat channel (MAD 0) keeps it
    value[40] = 6.5  # beyond min_jump
    screen = SpikeScreen([spec(spike_k=6.0, spike_window=10, spike_min_jump=1.0)])
    block = one_channel(ts, value)
    screen.screen(block)
    assert np.flatnonzero(screen.found[:, 0]).tolist() == [40]


def test_a_real_step_costs_one_reading_and_raises_no_spike() -> None:
    ts = T0 + np.arange(100.0)
    rng = np.random.default_rng(1)
    value = rng.normal(0, 0.2, 100)
    value[50:] += 30.0  # the structure really moved
    table = QualityTable([spec(spike_k=6.0, spike_window=15, spike_min_jump=1.0)])
    block = one_channel(ts, value)
    res = run(table, block)
    # The first reading of the step is held; the next, on the same side, confirms the step: it and
    # every later one are used.
    assert np.flatnonzero(table.screen.found[:, 0]).tolist() == [50]
    assert block.usable[51:, 0].all()
    assert len(res) == 0, "a step is no spike"


def test_streaming_screen_matches_block_screen() -> None:
    rng = np.random.default_rng(3)
    ts = T0 + np.arange(500.0)
    value = rng.normal(0, 1, 500)
    value[rng.choice(500, 20, replace=False)] += 40
    specs = [spec(spike_k=5.0, spike_window=12, spike_min_jump=0.5)]
    whole = SpikeScreen(specs)
    whole.screen(one_channel(ts, value))
    streamed = SpikeScreen(specs)
    found, notice, deviation = [], [], []
    for i in range(500):
        streamed.screen(one_channel(ts[i : i + 1], value[i : i + 1]))
        found.append(bool(streamed.found[0, 0]))
        notice.append(bool(streamed.notice[0, 0]))
        deviation.append(float(streamed.deviation[0, 0]))
    assert found == whole.found[:, 0].tolist()
    assert notice == whole.notice[:, 0].tolist()
    assert sum(notice) >= 10, "the stream has spikes to notice"
    np.testing.assert_allclose(deviation, whole.deviation[:, 0], rtol=1e-12)


def test_constant_channel_is_stuck_then_clears() -> None:
    ts = T0 + 60.0 * np.arange(100)
    value = np.full(100, 3.25)
    value[80:] += np.arange(20) * 0.1  # moves again
    table = QualityTable([spec(stuck_window_s=1800.0, stuck_min_samples=10, grade=3)])
    res = run(table, one_channel(ts, value))
    assert changes(table, res) == [("stuck", ts[30], 0, 3), ("stuck", ts[81], 3, 0)]
    assert res.value[0] == 1800.0  # the run had lasted the window
    assert res.limit[0] == 1800.0


def test_stuck_with_tolerance() -> None:
    ts = T0 + 10.0 * np.arange(60)
    value = np.where(np.arange(60) % 2 == 0, 1.00, 1.04)
    value[40] = 1.3
    table = QualityTable([spec(stuck_window_s=100.0, stuck_min_samples=5, stuck_tolerance=0.05)])
    res = run(table, one_channel(ts, value))
    assert changes(table, res) == [("stuck", ts[10], 0, 1), ("stuck", ts[40], 1, 0), ("stuck", ts[51], 0, 1)]


def test_stuck_needs_the_window_not_just_the_samples() -> None:
    ts = T0 + np.arange(50.0)  # 50 equal readings within 49 s
    table = QualityTable([spec(stuck_window_s=3600.0, stuck_min_samples=10)])
    assert len(run(table, one_channel(ts, np.full(50, 1.0)))) == 0


def test_gaps_raise_silent_at_last_good_plus_silent_s() -> None:
    ts = T0 + np.array([0.0, 60, 120, 900, 960, 2000])
    table = QualityTable([spec(silent_s=300.0, grade=2)])
    res = run(table, one_channel(ts, np.zeros(len(ts))))
    assert changes(table, res) == [
        ("silent", T0 + 420, 0, 2),
        ("silent", T0 + 900, 2, 0),
        ("silent", T0 + 1260, 0, 2),
        ("silent", T0 + 2000, 2, 0),
    ]
    assert res.value.tolist() == [300.0, 780.0, 300.0, 1040.0]


def test_bad_readings_do_not_end_a_silence() -> None:
    ts = T0 + np.array([0.0, 200, 400, 600])
    quality = np.array([0, 0x10, 0x10, 0])
    value = np.array([1.0, np.nan, np.nan, 1.0])
    table = QualityTable([spec(silent_s=300.0)])
    res = run(table, one_channel(ts, value, quality))
    assert changes(table, res) == [("silent", T0 + 300, 0, 1), ("silent", T0 + 600, 1, 0)]


def test_tick_raises_silent_when_nothing_arrives() -> None:
    table = QualityTable([spec(silent_s=300.0)])
    assert len(run(table, one_channel(np.array([T0]), np.array([1.0])))) == 0
    assert len(table.tick(T0 + 299)) == 0
    res = table.tick(T0 + 400)
    assert changes(table, res) == [("silent", T0 + 300, 0, 1)]
    assert len(table.tick(T0 + 500)) == 0, "raised once"
    assert table.grade.tolist() == [1]
    res = run(table, one_channel(np.array([T0 + 450.0]), np.array([1.0])))
    assert changes(table, res) == [("silent", T0 + 450, 1, 0)]
    assert table.grade.tolist() == [0]


def test_tick_watches_a_channel_that_never_reported() -> None:
    table = QualityTable([spec(silent_s=300.0)])
    assert len(table.tick(T0)) == 0  # starts watching
    assert changes(table, table.tick(T0 + 301)) == [("silent", T0 + 300, 0, 1)]


def test_tick_then_block_equals_block_alone() -> None:
    ts = T0 + np.array([0.0, 1000.0])
    whole = QualityTable([spec(silent_s=300.0)])
    a = changes(whole, run(whole, one_channel(ts, np.zeros(2))))
    ticked = QualityTable([spec(silent_s=300.0)])
    b = changes(ticked, run(ticked, one_channel(ts[:1], np.zeros(1))))
    b += changes(ticked, ticked.tick(T0 + 500))
    b += changes(ticked, run(ticked, one_channel(ts[1:], np.zeros(1))))
    assert a == b


def test_out_of_range_raised_by_a_flag_and_cleared_by_an_in_range_reading() -> None:
    ts = T0 + np.arange(7.0)
    value = np.array([1.0, 999, 998, np.nan, 2.0, 999, 3.0])
    quality = np.array([0, BAD_RANGE, BAD_RANGE, 0x20, 0, BAD_RANGE, 0])
    table = QualityTable([spec(out_of_range=True, grade=3)])
    res = run(table, one_channel(ts, value, quality))
    assert changes(table, res) == [
        ("out_of_range", T0 + 1, 0, 3),
        ("out_of_range", T0 + 4, 3, 0),
        ("out_of_range", T0 + 5, 0, 3),
        ("out_of_range", T0 + 6, 3, 0),
    ]
    assert res.value.tolist() == [999.0, 2.0, 999.0, 3.0]


def test_nan_values_are_never_usable() -> None:
    n = 40
    ts = T0 + 60.0 * np.arange(n)
    value = np.full(n, 2.0)
    value[5:35] = np.nan  # good quality flag, yet no number
    table = QualityTable([spec(silent_s=600.0, stuck_window_s=600.0, stuck_min_samples=3, spike_k=6.0)])
    block = one_channel(ts, value)
    res = run(table, block)
    got = changes(table, res)
    # NaN neither ends the silence (the sensor said nothing), nor feeds the stuck run or the spike
    # window.
    assert ("silent", ts[4] + 600, 0, 1) in got
    assert ("silent", ts[35], 1, 0) in got
    assert not table.screen.found.any()
    stuck = [c for c in got if c[0] == "stuck"]
    assert stuck == [("stuck", ts[35], 0, 1)]  # the run from ts[0] spans the window at ts[35]


def test_rows_and_check_names() -> None:
    s = QualitySpec(rule=4, channels=np.array([2, 5], dtype=np.int32), stuck_window_s=60.0)
    table = QualityTable([s])
    assert table.check_name.tolist() == ["silent"] * 2 + ["stuck"] * 2 + ["out_of_range"] * 2 + ["spike"] * 2
    assert table.channel.tolist() == [2, 5] * 4
    assert table.rule.tolist() == [4] * 8
    assert len(table.screen) == 2


def test_judges_refuse_a_block_the_screen_did_not_see() -> None:
    table = QualityTable([spec(spike_k=6.0)])
    block = one_channel(np.array([T0]), np.array([1.0]))
    with pytest.raises(RuntimeError):
        table.evaluate(block)


def test_a_table_without_spike_checks_needs_no_screen_run() -> None:
    table = QualityTable([spec(silent_s=60.0)])
    res = table.evaluate(one_channel(T0 + np.array([0.0, 100.0]), np.zeros(2)))
    assert changes(table, res) == [("silent", T0 + 60, 0, 1), ("silent", T0 + 100, 1, 0)]
