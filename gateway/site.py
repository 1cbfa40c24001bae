"""The site as the runtime needs it: channel columns, compiled rules and MQTT device topics."""

from __future__ import annotations

from analytics import Engine
from analytics.crane_cycles import CycleDetector
from drivers import DeviceBinding
from drivers.device_time import TimePolicy
from drivers.mqtt_payload import PayloadLayout
from gateway.alarms.book import NEVER_REOPEN, AlarmBook, Reopening
from gateway.alarms.wording import Facts
from gateway.config import ChannelEntry, MqttDeviceConfig, SiteConfig, site_channels
from gateway.rules import Binding, RuleBook
from gateway.rules.cycle_detector import cycle_detector


class Site:
    def __init__(self, config: SiteConfig) -> None:
        self.config = config
        self.id = config.site.id
        self.rulebook = RuleBook(config, list(site_channels(config)))
        self.channels: list[ChannelEntry] = self.rulebook.channels
        self.index = self.rulebook.index
        self.units = self.rulebook.units

    def analytics(self, reopening: Reopening = NEVER_REOPEN) -> tuple[Engine, AlarmBook]:
        """A fresh core for this site and the alarm book that names its bindings."""
        engine, bindings = self.rulebook.engine()
        return engine, alarm_book(self.id, bindings, reopening)

    def cycle_detector(self) -> CycleDetector | None:
        """A fresh crane working-cycle detector, or None without a crane rule."""
        return cycle_detector(self.config, self.index)

    def device_topics(self) -> dict[str, DeviceBinding]:
        """MQTT topic of each MQTT device, with its quantities' columns."""
        prefix = self.config.topic_prefix
        topics: dict[str, DeviceBinding] = {}
        for device in self.config.devices:
            if not isinstance(device, MqttDeviceConfig):
                continue
            topic = device.topic or f"{prefix}/devices/{device.id}/up"
            columns = {q: self.index.column(f"{device.id}.{q}") for q in device.channels}
            layout = (
                PayloadLayout(dict(device.payload.values), device.payload.ts, device.payload.readings)
                if device.payload is not None
                else None
            )
            time = TimePolicy(device.time_source, device.clock_tolerance_s, device.max_reading_age_s)
            topics[topic] = DeviceBinding(device.id, columns, layout, time)
        return topics

    def device_wildcard(self) -> str:
        return f"{self.config.topic_prefix}/devices/+/up"


def alarm_book(site: str, bindings: list[Binding], reopening: Reopening = NEVER_REOPEN) -> AlarmBook:
    return AlarmBook(
        site=site,
        binding_channel=[b.channel for b in bindings],
        binding_rule=[b.rule for b in bindings],
        binding_unit=[b.unit for b in bindings],
        binding_facts=[Facts(b.kind, b.facts) for b in bindings],
        reopening=reopening,
    )
