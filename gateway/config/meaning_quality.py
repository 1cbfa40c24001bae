"""Checks for meaning of quality rules: settings that types allow but that cannot work as meant."""

from __future__ import annotations

from gateway.config.problem import KeyPath, Problem
from gateway.config.rules import QualityRuleConfig

# A causal Hampel screen on Gaussian noise rejects this share of ordinary readings (measured with
# analytics.quality.SpikeScreen, 200 000 samples): k=6 W=5 5 %, k=4 W=15 1 %, k=6 W=15 0.15 %.
MIN_SPIKE_WINDOW_WITHOUT_FLOOR = 9
MIN_SPIKE_K_WITHOUT_FLOOR = 4.0


def check_quality_rule(base: KeyPath, rule: QualityRuleConfig) -> list[Problem]:
    problems: list[Problem] = []
    set_fields = rule.model_fields_set
    stuck = rule.stuck_window_s is not None
    spike = rule.spike_k is not None
    if rule.silent_s is None and not stuck and not rule.out_of_range and not spike:
        problems.append(
            Problem(
                base,
                "a quality rule needs at least one check: silent_s, stuck_window_s, out_of_range or spike_k",
            )
        )
    if not stuck:
        for name in ("stuck_min_samples", "stuck_tolerance"):
            if name in set_fields:
                problems.append(
                    Problem((*base, name), "has no effect: the stuck check is off (set stuck_window_s)")
                )
    if not spike:
        for name in ("spike_window", "spike_min_jump"):
            if name in set_fields:
                problems.append(Problem((*base, name), "has no effect: the spike check is off (set spike_k)"))
    if spike and rule.spike_min_jump == 0 and rule.spike_k is not None:
        if rule.spike_window < MIN_SPIKE_WINDOW_WITHOUT_FLOOR:
            problems.append(
                Problem(
                    (*base, "spike_window"),
                    f"a window of {rule.spike_window} readings without spike_min_jump rejects several % "
                    f"of ordinary noise as spikes: use at least {MIN_SPIKE_WINDOW_WITHOUT_FLOOR}, "
                    "or set spike_min_jump above the sensor's noise",
                )
            )
        if rule.spike_k < MIN_SPIKE_K_WITHOUT_FLOOR:
            problems.append(
                Problem(
                    (*base, "spike_k"),
                    f"spike_k {rule.spike_k:g} without spike_min_jump rejects ordinary noise as spikes: "
                    f"use at least {MIN_SPIKE_K_WITHOUT_FLOOR:g}, or set spike_min_jump",
                )
            )
    return problems
