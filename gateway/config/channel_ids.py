"""Channel ids of a site (``<device>.<quantity>``) and the patterns rules use to pick them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from gateway.config.models import ChannelConfig, DeviceConfig, SiteConfig


@dataclass(frozen=True, slots=True)
class ChannelEntry:
    id: str
    device: DeviceConfig
    quantity: str
    config: ChannelConfig
    device_index: int
    derived_by: str | None = None  # the rule that computes it; None for a sensor's channel


def site_channels(config: SiteConfig) -> Iterator[ChannelEntry]:
    for index, device in enumerate(config.devices):
        for quantity, channel in device.channels.items():
            yield ChannelEntry(f"{device.id}.{quantity}", device, quantity, channel, index)


def match_channels(pattern: str, channel_ids: Sequence[str]) -> list[str]:
    """Channel ids a pattern names: an exact id, or a shell-style pattern like ``fw1.*.settlement``."""
    if pattern in channel_ids:
        return [pattern]
    return [cid for cid in channel_ids if fnmatchcase(cid, pattern)]
