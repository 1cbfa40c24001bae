"""The limits each channel is judged against, as the site file's rules set them (for the dashboard's
limit lines and the alarm list's "value / limit").

A rule with graded limits gives ``upper`` and/or ``lower`` ``{yellow, orange, red}``; ``of`` says
what they apply to: the ``value``, the ``change`` since the baseline (cumulative rules) or the
``rate`` per ``per`` (rate rules). Crane rules give the ratio limits of their computed ratio channels,
wind rules the levels of the computed wind level, time-to-limit rules their control value.
"""

from __future__ import annotations

from typing import Any

from gateway.config import (
    CraneRuleConfig,
    CumulativeRuleConfig,
    GradedLimits,
    RateRuleConfig,
    SiteConfig,
    ThresholdRuleConfig,
    TimeToLimitRuleConfig,
    WindRuleConfig,
    match_channels,
)
from gateway.config.channel_ids import ChannelEntry


def _graded(limits: GradedLimits | None) -> dict[str, float | None] | None:
    if limits is None:
        return None
    return {"yellow": limits.yellow, "orange": limits.orange, "red": limits.red}


def channel_limits(config: SiteConfig, channels: list[ChannelEntry]) -> dict[str, list[dict[str, Any]]]:
    ids = [e.id for e in channels]
    out: dict[str, list[dict[str, Any]]] = {cid: [] for cid in ids}

    def add(patterns: list[str], limit: dict[str, Any]) -> None:
        for pattern in patterns:
            for cid in match_channels(pattern, ids):
                out[cid].append(limit)

    for rule in config.rules:
        base = {"rule": rule.id, "type": rule.type}
        if isinstance(rule, ThresholdRuleConfig | CumulativeRuleConfig | RateRuleConfig):
            of = {"threshold": "value", "cumulative": "change", "rate": "rate"}[rule.type]
            limit = base | {"of": of, "upper": _graded(rule.upper), "lower": _graded(rule.lower)}
            if isinstance(rule, RateRuleConfig):
                limit["per"] = rule.per
            add(rule.channels, limit)
        elif isinstance(rule, TimeToLimitRuleConfig):
            add(
                rule.channels,
                base | {"of": "value", "upper": {"yellow": None, "orange": None, "red": rule.limit}},
            )
        elif isinstance(rule, CraneRuleConfig | WindRuleConfig):
            for entry in channels:
                if entry.derived_by != rule.id:
                    continue
                if isinstance(rule, CraneRuleConfig) and entry.quantity in ("load_ratio", "moment_ratio"):
                    out[entry.id].append(base | {"of": "value", "upper": _graded(rule.ratios), "lower": None})
                elif isinstance(rule, WindRuleConfig) and entry.quantity == "wind_level":
                    levels = {"yellow": float(rule.watch_level), "orange": float(rule.stop_lifting_level)}
                    out[entry.id].append(
                        base | {"of": "value", "upper": levels | {"red": None}, "lower": None}
                    )
    return out
