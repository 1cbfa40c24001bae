"""The benchmark runs in quick mode and reports every figure; no timing is asserted."""

from __future__ import annotations

import inspect
import json
import math
import statistics

import numpy as np
import pytest

from analytics.trend import RateTable
from smartsite.bench.baseline import BaselineSite, median_mad
from smartsite.bench.data import T0, BenchRules, bench_site, channel_ids, series
from smartsite.bench.figures import replay_rules
from smartsite.cli import main

FIELDS = {"name", "value", "unit", "baseline", "ratio"}


def test_bench_quick_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    results = report["results"]
    assert [r["name"].split("_")[0] for r in results] == [
        "streaming",
        "replay",
        "memory",
        "alarm",
        "modbus",
        "modbus",
    ]
    for row in results:
        assert set(row) >= FIELDS
        assert isinstance(row["name"], str) and isinstance(row["unit"], str)
        for key in ("value", "baseline", "ratio"):
            assert isinstance(row[key], int | float) and math.isfinite(row[key]) and row[key] > 0
    assert "threshold" in report["rules"]


def test_bench_only_one_figure_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--only", "streaming"]) == 0
    out = capsys.readouterr().out
    assert "streaming_tick_p99" in out and "replay" not in out


def test_bench_unknown_figure_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--only", "nope"]) == 1
    assert "unknown figure" in capsys.readouterr().err


def test_baseline_thresholds_with_hysteresis_and_rate() -> None:
    rules = BenchRules(
        rate=True, quality=True, rate_window_s=600.0, rate_per_s=60.0, rate_upper=(1.0, 2.0, 4.0)
    )
    base = BaselineSite(channel_ids(1), rules)
    cid = channel_ids(1)[0]
    values = [20.0, 21.0, 26.0, 25.2, 24.9, 20.4, 20.6]
    out = base.process([(60.0 * i, cid, v) for i, v in enumerate(values)])
    grades = [(t[2], t[4]) for t in out if t[2] == "disp"]
    assert grades == [("disp", 1), ("disp", 2), ("disp", 1), ("disp", 0)]
    # A steady rise of 3 per minute: rate orange once the window holds enough samples.
    out = base.process([(600.0 + 60.0 * i, cid, -100 + 3.0 * i) for i in range(10)])
    assert ("disp_rate", 2) in [(t[2], t[4]) for t in out]
    # Silence is noticed by the tick.
    assert [t[2] for t in base.tick(600.0 + 60.0 * 9 + rules.silent_s + 1)] == ["silent"]
    assert np.isfinite(out[0][0])


def test_median_mad_matches_the_definition() -> None:
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 4, 5, 15, 16, 60, 61):
        for _ in range(50):
            values = sorted(np.round(rng.normal(0.0, 1.0, n), 1).tolist())  # rounded: ties too
            med = statistics.median(values)
            mad = statistics.median([abs(v - med) for v in values])
            assert median_mad(values) == pytest.approx((med, mad), abs=1e-12)


def _rule_changes(out: list[tuple[float, int, str, int, int, float]], rule: str) -> list[tuple[int, int]]:
    return [(t[3], t[4]) for t in out if t[2] == rule]


def test_baseline_rate_rejects_outliers_before_the_fit() -> None:
    rules = BenchRules(quality=False, rate_window_s=600.0, rate_per_s=60.0, rate_upper=(1.0, 2.0, 4.0))
    cid = channel_ids(1)[0]
    base = BaselineSite([cid], rules)
    # 0.5 per minute, below yellow: then one wild reading. Plain least squares would see a steep
    # rise; the Hampel step drops the reading and the rate stays where it was.
    out = base.process([(60.0 * i, cid, 0.5 * i) for i in range(10)])
    out += base.process([(600.0, cid, 150.0)])
    assert _rule_changes(out, "disp_rate") == []
    # A real rise of 3 per minute does come through (orange).
    out = base.process([(660.0 + 60.0 * i, cid, 5.0 + 3.0 * i) for i in range(11)])
    assert max(new for _, new in _rule_changes(out, "disp_rate")) == 2


def test_baseline_rate_needs_min_samples() -> None:
    rules = BenchRules(quality=False, rate_min_samples=8, rate_window_s=600.0, rate_per_s=60.0)
    cid = channel_ids(1)[0]
    base = BaselineSite([cid], rules)
    out = base.process([(60.0 * i, cid, 5.0 * i) for i in range(7)])
    assert _rule_changes(out, "disp_rate") == []
    out = base.process([(420.0, cid, 35.0)])
    assert _rule_changes(out, "disp_rate") == [(0, 3)]


def _spiky(min_hold_s: float) -> list[tuple[float, int, str, int, int, float]]:
    rules = BenchRules(rate=False, spike_k=6.0, spike_window=15, spike_min_jump=0.0, min_hold_s=min_hold_s)
    cid = channel_ids(1)[0]
    base = BaselineSite([cid], rules)
    noise = [10.0 + 0.1 * ((7 * i) % 5 - 2) for i in range(40)]
    readings = [(60.0 * i, cid, v) for i, v in enumerate(noise)]
    readings[20] = (60.0 * 20, cid, 28.0)  # would be orange if it were judged
    return base.process(readings)


def test_baseline_spike_screen_keeps_spikes_from_the_value_rules() -> None:
    out = _spiky(min_hold_s=0.0)
    assert _rule_changes(out, "disp") == []
    spikes = [(t[0], t[3], t[4]) for t in out if t[2] == "spike"]
    # Held at the spike, raised at the next reading (it did not confirm a step), cleared after
    # spike_window clean readings.
    assert spikes == [(60.0 * 21, 0, 1), (60.0 * 36, 1, 0)]


def test_baseline_holds_a_grade_for_min_hold_s() -> None:
    out = _spiky(min_hold_s=90.0)
    spikes = [(t[0], t[3], t[4]) for t in out if t[2] == "spike"]
    # Noticed at the reading that decides (21 min); the check falls 90 s after the rule cleared it
    # (36 min), seen at the reading after (38 min).
    assert spikes == [(60.0 * 21, 0, 1), (60.0 * 36 + 90.0, 1, 0)]


def test_bench_site_carries_the_baseline_parameters() -> None:
    rules = BenchRules()
    config = bench_site(3, rules)
    by_type = {r.type: r for r in config.rules}
    rate, quality = by_type["rate"], by_type["quality"]
    assert (rate.window_s, rate.min_samples, rate.hampel_k) == (
        rules.rate_window_s,
        rules.rate_min_samples,
        rules.rate_hampel_k,
    )
    assert (quality.spike_k, quality.spike_window, quality.spike_min_jump) == (
        rules.spike_k,
        rules.spike_window,
        rules.spike_min_jump,
    )
    assert (quality.silent_s, quality.stuck_window_s, quality.stuck_min_samples) == (
        rules.silent_s,
        rules.stuck_window_s,
        rules.stuck_min_samples,
    )
    assert quality.out_of_range
    # Not a config field: the baseline copies the core's fixed coverage.
    default = inspect.signature(RateTable.__init__).parameters["min_coverage"].default
    assert rules.rate_min_coverage == default


def test_baseline_agrees_with_the_core_on_the_bench_data() -> None:
    """Same data, same rules: thresholds, spikes, silent and stuck agree change for change. The rate
    differs only at the edges (the core works on slots, the baseline on every reading)."""
    from gateway.site import Site

    n, ticks, step = 40, 3000, 60.0  # channel 34 reaches the rate limits
    rules = replay_rules({"threshold", "rate", "quality"})
    engine, bindings = Site(bench_site(n, rules)).rulebook.engine()
    ids = channel_ids(n)
    column = {cid: i for i, cid in enumerate(ids)}
    base = BaselineSite(ids, rules)
    core: list[tuple[float, int, str, int, int]] = []
    baseline: list[tuple[float, int, str, int, int]] = []
    for start in range(0, ticks, 500):
        tick = np.arange(start, min(ticks, start + 500), dtype=np.int64)
        values = series(tick, n, step)
        ts = np.repeat(T0 + tick * step, n).astype(np.float64)
        found = engine.process(
            ts,
            np.tile(np.arange(n, dtype=np.int32), len(tick)),
            values.reshape(-1),
            np.zeros(ts.size, np.uint8),
        ).transitions
        for t, b, old, new in zip(found.ts, found.binding, found.old_grade, found.new_grade, strict=True):
            binding = bindings[int(b)]
            rule = binding.rule.removeprefix("disp_quality.")
            core.append((float(t), column[binding.channel], rule, int(old), int(new)))
        rows = values.tolist()
        for row, k in enumerate(tick.tolist()):
            out = base.process(zip([T0 + k * step] * n, ids, rows[row], strict=True))
            baseline += [(t[0], t[1], t[2], t[3], t[4]) for t in out]

    def changes(side: list[tuple[float, int, str, int, int]], rule: str) -> list[tuple[float, int, int, int]]:
        return sorted((t, c, o, g) for t, c, r, o, g in side if r == rule)

    for rule in ("disp", "spike", "silent", "stuck", "out_of_range"):
        assert changes(baseline, rule) == changes(core, rule), rule
    assert changes(core, "disp") and changes(core, "spike")
    rate_core, rate_base = len(changes(core, "disp_rate")), len(changes(baseline, "disp_rate"))
    assert rate_core > 0 and rate_base > 0
    assert 0.5 < rate_base / rate_core < 2.0
