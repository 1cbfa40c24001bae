"""Channels that rules compute from sensors' channels: wind means and level, crane ratios.

A derived channel is named like a sensor's, ``<device>.<quantity>``, after the device of the channel
it comes from, so rules, the API and the stores treat both alike.
"""

from __future__ import annotations

from gateway.config.channel_ids import ChannelEntry
from gateway.config.models import ChannelConfig, SiteConfig
from gateway.config.rule_config import CraneRuleConfig, WindRuleConfig

WIND_OUTPUTS = {
    "wind_3s": "m/s",
    "wind_2min": "m/s",
    "wind_10min": "m/s",
    "gust": "m/s",
    "wind_level": "",
}
CRANE_OUTPUTS = {"load_ratio": "", "moment_ratio": ""}


def device_of(channel_id: str) -> str:
    return channel_id.rsplit(".", 1)[0]


def derived_channels(
    config: SiteConfig, sensors: list[ChannelEntry], matched: dict[int, list[str]]
) -> list[ChannelEntry]:
    """Derived channels in rule order; ``matched`` gives each rule's matched sensor channel ids."""
    by_id = {entry.id: entry for entry in sensors}
    out: list[ChannelEntry] = []
    for number, rule in enumerate(config.rules):
        if isinstance(rule, WindRuleConfig):
            outputs = WIND_OUTPUTS
        elif isinstance(rule, CraneRuleConfig):
            outputs = CRANE_OUTPUTS
        else:
            continue
        for source in matched.get(number, []):
            entry = by_id.get(source)
            if entry is None:
                continue
            for quantity, unit in outputs.items():
                out.append(
                    ChannelEntry(
                        id=f"{device_of(source)}.{quantity}",
                        device=entry.device,
                        quantity=quantity,
                        config=ChannelConfig(unit=unit, description=f"computed by rule {rule.id}"),
                        device_index=entry.device_index,
                        derived_by=rule.id,
                    )
                )
    return out
