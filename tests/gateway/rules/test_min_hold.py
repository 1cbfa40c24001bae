"""Minimum dwell from the site file: defaults per rule kind, min_hold_s per rule, and what the
alarms show (a flicker around a limit raises once; a silent channel's held grade still falls)."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.hold import TICK_GRACE_S
from gateway.config import parse_config
from gateway.config.rule_config import MIN_HOLD_S
from gateway.rules.rulebook import KINDS
from gateway.site import Site

SITE = """
site: {id: hold}
devices:
  - {id: tilt1, type: mqtt, channels: {angle: {unit: deg, range: [-10, 10]}}}
  - {id: tilt2, type: mqtt, channels: {angle: {unit: deg, range: [-10, 10]}}}
rules:
  - {id: tilt, type: threshold, channels: [tilt1.angle], upper: {yellow: 1.0, red: 2.0}, hysteresis: 0.05}
  - {id: tilt_now, type: threshold, channels: [tilt2.angle], upper: {yellow: 1.0, red: 2.0},
     hysteresis: 0.05, min_hold_s: 0}
  - {id: q, type: quality, channels: ["tilt*.angle"], silent_s: 600, spike_k: null, min_hold_s: 30}
"""
T0 = 1_767_225_600.0


def _run(values: np.ndarray, column: str) -> tuple[list[tuple[float, str, int]], Site]:
    site = Site(parse_config(SITE))
    engine, book = site.analytics()
    t = T0 + np.arange(len(values), dtype=np.float64)
    col = np.full(len(values), site.index.column(column), dtype=np.int32)
    out = engine.process(t, col, values.astype(np.float64), np.zeros(len(values), dtype=np.uint8))
    events = book.apply(out.transitions)
    return [(e.ts - T0, e.rule, e.grade) for e in events], site


def test_every_kind_has_a_default_and_a_rule_may_set_its_own() -> None:
    assert set(MIN_HOLD_S) == KINDS and all(v > 0 for v in MIN_HOLD_S.values())
    config = parse_config(SITE)
    assert [r.hold_s() for r in config.rules] == [MIN_HOLD_S["threshold"], 0.0, 30.0]
    engine, _ = Site(config).analytics()
    # One value per binding: tilt (1 row), tilt_now (1 row), q (one row per check and channel).
    holds = engine.hold.min_hold_s
    rules = engine.binding_rule
    assert holds[rules == 0].tolist() == [60.0] and holds[rules == 1].tolist() == [0.0]
    assert set(holds[rules == 2].tolist()) == {30.0}


def test_a_flicker_around_the_limit_raises_once_and_clears_a_minute_after_the_last_crossing() -> None:
    # Two minutes flickering around 1.0 deg (every other second over the limit), then quiet at 0.5.
    values = np.r_[np.where(np.arange(120) % 2 == 0, 1.02, 0.9), np.full(200, 0.5)]
    held, _ = _run(values, "tilt1.angle")
    assert [(t, g) for t, r, g in held if r == "tilt"] == [(0.0, 1), (119.0 + 60.0, 0)]
    # The same flicker on a rule with min_hold_s 0 makes an alarm change on every reading.
    prompt, _ = _run(values, "tilt2.angle")
    assert len([1 for _, r, _ in prompt if r == "tilt_now"]) == 120


def test_a_rise_is_never_delayed() -> None:
    values = np.r_[np.full(10, 1.5), np.full(3, 2.5), np.full(100, 0.0)]
    held, _ = _run(values, "tilt1.angle")
    # Yellow at once, red at once (within the yellow hold); both held for a minute after the rule
    # fell to normal at 13 s: one fall, at 73 s.
    assert [(t, g) for t, r, g in held if r == "tilt"] == [(0.0, 1), (10.0, 3), (73.0, 0)]


def test_a_held_grade_of_a_channel_that_falls_silent_ends_with_the_clock() -> None:
    site = Site(parse_config(SITE))
    engine, book = site.analytics()
    col = site.index.column("tilt1.angle")
    t = T0 + np.arange(12, dtype=np.float64)
    values = np.r_[np.full(6, 1.5), np.full(6, 0.2)]  # up, down at 6 s, then silence
    out = engine.process(t, np.full(12, col, dtype=np.int32), values, np.zeros(12, dtype=np.uint8))
    assert [e.grade for e in book.apply(out.transitions) if e.rule == "tilt"] == [1]
    assert engine.channel_grade()[col] == 1  # the alarm shows what is held
    assert [e.rule for e in book.apply(engine.tick(T0 + 6 + 60 + TICK_GRACE_S - 1))] == []
    cleared = [e for e in book.apply(engine.tick(T0 + 6 + 60 + TICK_GRACE_S)) if e.rule == "tilt"]
    assert [(e.ts - T0, e.grade) for e in cleared] == [(66.0, 0)]
    assert engine.channel_grade()[col] == 0


@pytest.mark.parametrize("cut", [1, 7, 50])
def test_the_held_changes_do_not_depend_on_the_batches(cut: int) -> None:
    rng = np.random.default_rng(cut)
    values = 1.0 + 0.4 * np.sin(np.arange(900) / 40.0) + rng.normal(0, 0.08, 900)
    whole, _ = _run(values, "tilt1.angle")
    site = Site(parse_config(SITE))
    engine, book = site.analytics()
    col = site.index.column("tilt1.angle")
    got = []
    for a in range(0, 900, cut):
        t = T0 + np.arange(a, min(900, a + cut), dtype=np.float64)
        v = values[a : a + cut]
        res = engine.process(t, np.full(len(t), col, dtype=np.int32), v, np.zeros(len(t), dtype=np.uint8))
        got += [(e.ts - T0, e.rule, e.grade) for e in book.apply(res.transitions)]
    assert got == whole and len(whole) > 4
