"""Compile the site's rules into the analytics core, and name every binding.

The core knows columns and rows; the alarm book needs, for each binding (a judge's row), the
channel id, the rule name and the unit of the judged quantity. This module keeps the two in step:
bindings are listed judge after judge, row after row, exactly as the engine numbers them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from analytics import ChannelIndex, Engine, ThresholdSpec
from analytics.thresholds import ThresholdTable
from gateway.config import (
    ChannelEntry,
    CraneRuleConfig,
    CumulativeRuleConfig,
    SiteConfig,
    ThresholdRuleConfig,
    WindRuleConfig,
)
from gateway.config.derived import derived_channels
from gateway.rules.parts import Binding, Compiled, Context, match_all
from gateway.rules.quality_kind import build_quality
from gateway.rules.site_kinds import build_combined, build_crane, build_wind
from gateway.rules.trend_kinds import (
    build_acceleration,
    build_failure_forecast,
    build_rate,
    build_time_to_limit,
)
from gateway.vocab import ConfigError

Builder = Callable[[Context, Compiled], None]

# Run in this order; the threshold table is built last from every builder's threshold rows.
BUILDERS: list[Builder] = [
    build_crane,
    build_wind,
    build_combined,
    build_quality,
    build_rate,
    build_acceleration,
    build_time_to_limit,
    build_failure_forecast,
]
# Rule kinds (config ``type``) the builders above cover.
KINDS = frozenset(
    {
        "threshold",
        "cumulative",
        "crane",
        "wind",
        "combined",
        "quality",
        "rate",
        "acceleration",
        "time_to_limit",
        "failure_forecast",
    }
)


class RuleBook:
    """Channels (sensor and derived) and compiled rules of a site."""

    def __init__(self, config: SiteConfig, sensor_channels: list[ChannelEntry]) -> None:
        self.config = config
        sensor_ids = [entry.id for entry in sensor_channels]
        sources = {
            number: match_all(rule.channels, sensor_ids)
            for number, rule in enumerate(config.rules)
            if isinstance(rule, (WindRuleConfig, CraneRuleConfig))
        }
        self.channels = sensor_channels + derived_channels(config, sensor_channels, sources)
        self.first_derived = len(sensor_channels)
        self.index = ChannelIndex(entry.id for entry in self.channels)
        self.units = [entry.config.unit for entry in self.channels]
        ranges = [entry.config.range for entry in self.channels]
        self.context = Context(config, self.index, self.units, sources, ranges)

    def engine(self) -> tuple[Engine, list[Binding]]:
        for number, rule in enumerate(self.config.rules):
            if rule.type not in KINDS:
                raise ConfigError([f"rules[{number}].type: rule type {rule.type!r} is not built in yet"])
        compiled = Compiled()
        for build in BUILDERS:
            build(self.context, compiled)
        thresholds = self._thresholds(compiled)
        judges = [thresholds, *compiled.judges] if len(thresholds) else compiled.judges
        bindings = compiled.threshold_bindings + compiled.bindings if len(thresholds) else compiled.bindings
        # Each binding's minimum dwell, from the rule it comes from (judges number rules as config).
        rules = [int(r) for j in judges for r in j.rule]
        hold = np.array([self.config.rules[r].hold_s() for r in rules], dtype=np.float64)
        low = np.array([e.config.range[0] if e.config.range else -np.inf for e in self.channels])
        high = np.array([e.config.range[1] if e.config.range else np.inf for e in self.channels])
        engine = Engine(
            low,
            high,
            judges=judges,
            screens=compiled.screens,
            derivers=compiled.derivers,
            first_derived=self.first_derived,
            min_hold_s=hold,
        )
        if len(bindings) != len(engine.binding_channel):
            raise AssertionError("rule bindings out of step with the engine's rows")
        return engine, bindings

    def _thresholds(self, compiled: Compiled) -> ThresholdTable:
        """Every threshold and cumulative rule, and builders' threshold rows, in one table."""
        specs: list[ThresholdSpec] = []
        bindings: list[Binding] = []
        ctx = self.context
        for number, rule in enumerate(self.config.rules):
            if not isinstance(rule, (ThresholdRuleConfig, CumulativeRuleConfig)):
                continue
            matched = ctx.matched(rule.channels)
            debounce = rule.debounce
            specs.append(
                ThresholdSpec(
                    rule=number,
                    channels=ctx.columns(matched),
                    upper=_limits(rule.upper.as_tuple() if rule.upper else None),
                    lower=_limits(rule.lower.as_tuple() if rule.lower else None),
                    hysteresis=rule.hysteresis,
                    debounce_count=debounce.count if debounce else 1,
                    debounce_of=debounce.of if debounce else 1,
                    hold_s=debounce.hold_s if debounce else 0.0,
                    baseline=_baseline(rule, matched) if isinstance(rule, CumulativeRuleConfig) else None,
                )
            )
            bindings += [Binding(c, rule.id, ctx.unit(c), rule.type) for c in matched]
        compiled.threshold_bindings = bindings + compiled.threshold_bindings
        return ThresholdTable(specs + compiled.threshold_specs)


def _limits(values: tuple[float | None, float | None, float | None] | None) -> tuple[float, float, float]:
    if values is None:
        return (np.nan, np.nan, np.nan)
    a, b, c = (np.nan if v is None else float(v) for v in values)
    return (a, b, c)


def _baseline(rule: CumulativeRuleConfig, channels: list[str]) -> npt.NDArray[np.float64]:
    if rule.baseline == "first":
        return np.full(len(channels), np.nan)
    if isinstance(rule.baseline, dict):
        return np.array([rule.baseline.get(c, np.nan) for c in channels], dtype=float)
    return np.full(len(channels), float(rule.baseline))
