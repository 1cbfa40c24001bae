"""The site as the runtime needs it: channel columns, ranges and rules compiled from the config."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics import ChannelIndex, Engine, ThresholdSpec
from drivers import DeviceBinding
from gateway.config import (
    ChannelEntry,
    SiteConfig,
    ThresholdRuleConfig,
    match_channels,
    site_channels,
)


@dataclass(frozen=True, slots=True)
class RuleInfo:
    id: str
    type: str


class Site:
    def __init__(self, config: SiteConfig) -> None:
        self.config = config
        self.id = config.site.id
        self.channels: list[ChannelEntry] = list(site_channels(config))
        self.index = ChannelIndex(entry.id for entry in self.channels)
        self.units = [entry.config.unit for entry in self.channels]
        self.rules = [RuleInfo(rule.id, rule.type) for rule in config.rules]

    def engine(self) -> Engine:
        low = np.array([e.config.range[0] if e.config.range else -np.inf for e in self.channels], dtype=float)
        high = np.array([e.config.range[1] if e.config.range else np.inf for e in self.channels], dtype=float)
        return Engine(low, high, self.threshold_specs())

    def threshold_specs(self) -> list[ThresholdSpec]:
        specs: list[ThresholdSpec] = []
        ids = list(self.index.ids)
        for number, rule in enumerate(self.config.rules):
            if not isinstance(rule, ThresholdRuleConfig):
                continue
            matched: list[str] = []
            for pattern in rule.channels:
                matched += [c for c in match_channels(pattern, ids) if c not in matched]
            specs.append(
                ThresholdSpec(
                    rule=number,
                    channels=self.index.columns(matched),
                    upper=_limits(rule.upper.as_tuple() if rule.upper else None),
                    lower=_limits(rule.lower.as_tuple() if rule.lower else None),
                    hysteresis=rule.hysteresis,
                )
            )
        return specs

    def device_topics(self) -> dict[str, DeviceBinding]:
        """MQTT topic of each MQTT device, with its quantities' columns."""
        prefix = self.config.topic_prefix
        topics: dict[str, DeviceBinding] = {}
        for device in self.config.devices:
            if device.type != "mqtt":
                continue
            topic = device.topic or f"{prefix}/devices/{device.id}/up"
            columns = {q: self.index.column(f"{device.id}.{q}") for q in device.channels}
            topics[topic] = DeviceBinding(device.id, columns)
        return topics

    def device_wildcard(self) -> str:
        return f"{self.config.topic_prefix}/devices/+/up"


def _limits(
    values: tuple[float | None, float | None, float | None] | None,
) -> tuple[float, float, float]:
    if values is None:
        return (np.nan, np.nan, np.nan)
    a, b, c = (np.nan if v is None else float(v) for v in values)
    return (a, b, c)
