"""Checks for meaning of quality rules: settings that types allow but that cannot work as meant."""

from __future__ import annotations

import math

from gateway.config.channel_ids import site_channels
from gateway.config.meaning_periods import rules_with_channels
from gateway.config.models import SiteConfig
from gateway.config.problem import KeyPath, Problem
from gateway.config.rule_config import QualityRuleConfig

# The spike screen (analytics.quality.SpikeScreen, its scale floored by a long-run deviation) calls
# this share of Gaussian noise a spike (200 000 samples): k=3 W=15 0.3 %, k=4 W=15 0.01 %, k=6 W=5
# and W=15 none. The window's length no longer matters much; k does.
MIN_SPIKE_K_WITHOUT_FLOOR = 4.0
# Without a known resolution, the spike screen's least scale is this share of the channel's range:
# 0.1 % of full scale, the accuracy class of common site sensors. Below it a reading's change is
# the sensor's own noise, not a spike.
RANGE_SHARE = 0.001


def spike_floors(config: SiteConfig) -> dict[str, float]:
    """Least spike scale per sensor channel: the larger of the channel's resolution (``resolution``
    in the site file; an integer register's scale) and RANGE_SHARE of the physical range; 0 where
    neither is known."""
    out: dict[str, float] = {}
    for entry in site_channels(config):
        floor = 0.0
        span = entry.config.range
        if span is not None and all(math.isfinite(x) for x in span):
            floor = RANGE_SHARE * abs(span[1] - span[0])
        if entry.config.resolution is not None:
            floor = max(floor, entry.config.resolution)
        out[entry.id] = floor
    return out


def check_spike_floors(config: SiteConfig) -> list[Problem]:
    """Warnings: spike checks on sensor channels with no floor at all (no range, no resolution, no
    spike_min_jump), where a flat reading's least change is taken for a spike."""
    floors = spike_floors(config)
    warnings: list[Problem] = []
    for i, rule, channels in rules_with_channels(config):
        if not isinstance(rule, QualityRuleConfig) or rule.spike_k is None or rule.spike_min_jump > 0:
            continue
        bare = [c for c in channels if floors.get(c) == 0.0]
        if bare:
            more = f" (and {len(bare) - 1} more)" if len(bare) > 1 else ""
            warnings.append(
                Problem(
                    ("rules", i, "spike_k"),
                    f"warning: {bare[0]}{more} has no range and no resolution, so a flat reading's "
                    "least change is a spike: give the channel its range, or set spike_min_jump",
                )
            )
    return warnings


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
    too_small = rule.spike_k is not None and rule.spike_k < MIN_SPIKE_K_WITHOUT_FLOOR
    if spike and rule.spike_min_jump == 0 and too_small:
        problems.append(
            Problem(
                (*base, "spike_k"),
                f"spike_k {rule.spike_k:g} without spike_min_jump rejects ordinary noise as spikes: "
                f"use at least {MIN_SPIKE_K_WITHOUT_FLOOR:g}, or set spike_min_jump",
            )
        )
    return problems
