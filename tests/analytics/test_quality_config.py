"""Quality rule config: checks for meaning, and the glue from config model to QualitySpec."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.quality import QUALITY_PARAMS, QualitySpec, QualityTable
from gateway.config.meaning_quality import check_quality_rule
from gateway.config.rule_config import QualityRuleConfig

BASE = ("rules", 0)


def rule(**kw: Any) -> QualityRuleConfig:
    return QualityRuleConfig.model_validate({"id": "q", "channels": ["d.x"], "type": "quality", **kw})


def messages(**kw: Any) -> list[tuple[tuple[str | int, ...], str]]:
    return [(p.path, p.message) for p in check_quality_rule(BASE, rule(**kw))]


def test_defaults_are_fine() -> None:
    assert messages() == []
    assert messages(stuck_window_s=3600, stuck_tolerance=0.01, stuck_min_samples=20) == []


def test_at_least_one_check() -> None:
    got = messages(silent_s=None, out_of_range=False, spike_k=None)
    assert got == [
        (BASE, "a quality rule needs at least one check: silent_s, stuck_window_s, out_of_range or spike_k")
    ]


def test_settings_of_a_check_that_is_off() -> None:
    got = messages(stuck_tolerance=0.1, spike_k=None, spike_min_jump=2.0)
    assert [p for p, _ in got] == [(*BASE, "stuck_tolerance"), (*BASE, "spike_min_jump")]
    assert all("has no effect" in m for _, m in got)


def test_spike_settings_that_reject_ordinary_noise() -> None:
    got = messages(spike_window=5, spike_k=3.0)
    # A short window is fine now that a long-run deviation floors the scale; a small k is not.
    assert [p for p, _ in got] == [(*BASE, "spike_k")]
    # A jump floor above the noise makes them acceptable.
    assert messages(spike_window=5, spike_k=3.0, spike_min_jump=2.0) == []


def test_spec_from_config_model() -> None:
    cfg = rule(stuck_window_s=600, grade=2)
    spec = QualitySpec(
        rule=7,
        channels=np.array([0, 3], dtype=np.int32),
        **{name: getattr(cfg, name) for name in QUALITY_PARAMS},
    )
    table = QualityTable([spec])
    assert set(table.check_name.tolist()) == {"silent", "stuck", "out_of_range", "spike"}
    assert table.rule_grade.tolist() == [2] * 8
