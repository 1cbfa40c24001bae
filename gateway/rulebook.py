"""Compile the site's rules into the analytics core's tables, and name every binding.

The core knows columns and rows; the alarm book needs, for each binding (a judge's row), the
channel id, the rule name and the unit of the judged quantity. This module keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from analytics import ChannelIndex, Engine, ThresholdSpec
from analytics.table import Deriver, Judge, Screen
from analytics.thresholds import ThresholdTable
from gateway.config import (
    ChannelEntry,
    CraneRuleConfig,
    CumulativeRuleConfig,
    RuleConfig,
    SiteConfig,
    ThresholdRuleConfig,
    WindRuleConfig,
    match_channels,
)
from gateway.config.derived import derived_channels
from gateway.errors import ConfigError


@dataclass(slots=True)
class Binding:
    channel: str
    rule: str
    unit: str


@dataclass(slots=True)
class Compiled:
    judges: list[Judge] = field(default_factory=list)
    screens: list[Screen] = field(default_factory=list)
    derivers: list[Deriver] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)


class RuleBook:
    """Channels (sensor and derived) and compiled rules of a site."""

    def __init__(self, config: SiteConfig, sensor_channels: list[ChannelEntry]) -> None:
        self.config = config
        sensor_ids = [entry.id for entry in sensor_channels]
        self.sources: dict[int, list[str]] = {
            number: _match(rule.channels, sensor_ids)
            for number, rule in enumerate(config.rules)
            if isinstance(rule, (WindRuleConfig, CraneRuleConfig))
        }
        self.channels = sensor_channels + derived_channels(config, sensor_channels, self.sources)
        self.first_derived = len(sensor_channels)
        self.index = ChannelIndex(entry.id for entry in self.channels)
        self.units = [entry.config.unit for entry in self.channels]

    def matched(self, patterns: list[str]) -> list[str]:
        return _match(patterns, list(self.index.ids))

    def columns(self, patterns: list[str]) -> npt.NDArray[np.int32]:
        return self.index.columns(self.matched(patterns))

    def engine(self) -> tuple[Engine, list[Binding]]:
        compiled = Compiled()
        self._thresholds(compiled)
        for number, rule in enumerate(self.config.rules):
            if isinstance(rule, (ThresholdRuleConfig, CumulativeRuleConfig)):
                continue
            builder = BUILDERS.get(rule.type)
            if builder is None:
                raise ConfigError([f"rules[{number}].type: rule type {rule.type!r} is not built in yet"])
            builder(self, number, rule, compiled)
        low = np.array([e.config.range[0] if e.config.range else -np.inf for e in self.channels])
        high = np.array([e.config.range[1] if e.config.range else np.inf for e in self.channels])
        engine = Engine(
            low,
            high,
            judges=compiled.judges,
            screens=compiled.screens,
            derivers=compiled.derivers,
            first_derived=self.first_derived,
        )
        return engine, compiled.bindings

    def _thresholds(self, compiled: Compiled) -> None:
        """Every threshold and cumulative rule in one table (one vectorised pass)."""
        specs: list[ThresholdSpec] = []
        for number, rule in enumerate(self.config.rules):
            if not isinstance(rule, (ThresholdRuleConfig, CumulativeRuleConfig)):
                continue
            matched = self.matched(rule.channels)
            debounce = rule.debounce
            specs.append(
                ThresholdSpec(
                    rule=number,
                    channels=self.index.columns(matched),
                    upper=_limits(rule.upper.as_tuple() if rule.upper else None),
                    lower=_limits(rule.lower.as_tuple() if rule.lower else None),
                    hysteresis=rule.hysteresis,
                    debounce_count=debounce.count if debounce else 1,
                    debounce_of=debounce.of if debounce else 1,
                    hold_s=debounce.hold_s if debounce else 0.0,
                    baseline=_baseline(rule, matched) if isinstance(rule, CumulativeRuleConfig) else None,
                )
            )
            compiled.bindings += [Binding(c, rule.id, self.units[self.index.column(c)]) for c in matched]
        if specs:
            compiled.judges.append(ThresholdTable(specs))


Builder = Callable[[RuleBook, int, RuleConfig, Compiled], None]
BUILDERS: dict[str, Builder] = {}


def _match(patterns: list[str], ids: list[str]) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        found += [c for c in match_channels(pattern, ids) if c not in found]
    return found


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
