"""The weather early-warning part of the runtime, built from the site file.

``Weather`` holds the warning desk (official CAP warnings and the site's own signals), the
``…/warnings`` publisher when the site has an MQTT uplink, and the local-signal sink when the site
file names anemometers or a rain gauge. The runtime enters it before the sinks (its own among
them) and runs its services; the API reaches the desk through it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from drivers.cap.area import SiteLocation
from drivers.cap.codes import WarningCodes
from drivers.cap.lifecycle import WarningBook
from drivers.cap.parse import CapError
from drivers.cap_mqtt_intake import CapMqttIntake
from drivers.mqtt_link import MqttLink
from drivers.sink import Sink
from drivers.warning_outbox import WarningPublisher
from drivers.warning_store import WarningStore
from drivers.warning_uplink import WarningUplink
from gateway.config import MqttSinkConfig, SiteConfig
from gateway.config.weather_actions import default_actions
from gateway.forward.platform_link import platform_link
from gateway.storage.paths import alarm_store_path
from gateway.vocab import AlarmEvent
from gateway.weather.actions import SiteMeaning
from gateway.weather.local_signals import LocalSignals
from gateway.weather.poll_control import Pollable, PollControl
from gateway.weather.warning_desk import WarningDesk

log = logging.getLogger(__name__)

STORE_NAME = "warnings.db"


def site_location(config: SiteConfig) -> SiteLocation | None:
    where = config.site.location
    if where is None:
        return None
    return SiteLocation(where.lat, where.lon, frozenset(where.geocodes))


def warning_store_path(config: SiteConfig, base_dir: Path) -> Path:
    """Beside the alarm store (same disk, same backups)."""
    return alarm_store_path(config, base_dir).with_name(STORE_NAME)


class Weather:
    def __init__(
        self,
        config: SiteConfig,
        base_dir: Path,
        emit: Callable[[list[AlarmEvent]], None],
        broker_link: Callable[[str | None], MqttLink] | None = None,
        clock: Callable[[], float] = time.time,
        column_of: Callable[[str], int] | None = None,
        sources: Sequence[object] = (),
    ) -> None:
        """``column_of``: the site's channel columns, for the local signals (none without it);
        ``sources``: the runtime's inputs, whose Modbus hubs poll faster under some warnings."""
        weather = config.weather
        codes = WarningCodes.default().with_codes(weather.codes)
        book = WarningBook(site_location(config), codes, weather.default_life_s)
        self.meaning = SiteMeaning(config.site.id, weather.actions or default_actions())
        self.uplink = _uplink(config, broker_link) if broker_link is not None else None
        self.desk = WarningDesk(
            config.site.id,
            book,
            WarningStore(warning_store_path(config, base_dir)),
            clock=clock,
            prepare=self.meaning.prepare,
            emit=emit,
            publishes=self.uplink is not None,
        )
        self.publisher = WarningPublisher(self.desk.store, self.uplink) if self.uplink is not None else None
        if self.publisher is not None:
            self.desk.listeners.append(self.publisher)
        local = weather.local
        self.local = (
            LocalSignals(config.site.id, local, column_of, self.desk)
            if column_of is not None and (local.gale is not None or local.rain is not None)
            else None
        )
        self.cap_in = (
            CapMqttIntake(broker_link(None), weather.cap_topic, f"smartsite-{config.site.id}-cap", self._take)
            if weather.cap_topic is not None and broker_link is not None
            else None
        )
        hubs = [s for s in sources if isinstance(s, Pollable)]
        self.polling = (
            PollControl(weather.faster_polling, hubs, [d.id for d in config.devices], self.desk.listing)
            if weather.faster_polling and hubs
            else None
        )
        if self.polling is not None:
            self.desk.listeners.append(self.polling)
        # Sinks the pipeline feeds (after this part is entered).
        self.sinks: list[Sink] = [self.local] if self.local is not None else []
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Weather:
        await self._stack.enter_async_context(self.desk)
        if self.polling is not None:
            self.polling.apply()  # a warning in force before a restart goes on polling faster
        if self.uplink is not None:
            await self._stack.enter_async_context(self.uplink)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    def services(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        out: list[tuple[str, Callable[[], Awaitable[None]]]] = [("weather-expiry", self.desk.run_expiry)]
        if self.publisher is not None:
            out.append(("weather-publish", self.publisher.run))
        if self.cap_in is not None:
            out.append(("weather-cap-in", self.cap_in.run))
        return out

    async def _take(self, document: bytes) -> None:
        """A CAP document from MQTT: refusals are counted by the desk and logged once per reason."""
        try:
            await self.desk.receive(document)
        except CapError as exc:
            if self.desk.refused.get(exc.reason, 0) == 1:
                log.warning("CAP document over MQTT refused (%s); further ones counted in health", exc)

    def health(self) -> dict[str, Any]:
        health = self.desk.health()
        if self.polling is not None:
            health["faster_polling"] = dict(self.polling.faster)
        if self.cap_in is not None:
            health["mqtt_in"] = {"connected": self.cap_in.connected, "messages": self.cap_in.messages}
        if self.publisher is not None:
            health["published"] = self.publisher.published
            health["publish_failures"] = self.publisher.failures
        return health


def _uplink(config: SiteConfig, broker_link: Callable[[str | None], MqttLink]) -> WarningUplink | None:
    """On the platform uplink's broker and prefix (the first MQTT sink), as the contract names it."""
    sink = next((s for s in config.sinks if isinstance(s, MqttSinkConfig)), None)
    if sink is None:
        return None
    link = platform_link(config, sink, broker_link, sessions=False)
    prefix = sink.topic_prefix or config.topic_prefix
    return WarningUplink(
        link, prefix, client_id=f"{sink.client_id or f'smartsite-{config.site.id}-up'}-warnings"
    )
