"""Builds the local store, the destinations and their forwarders from the site's ``sinks``."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from drivers import MqttLink, MqttUplink, SqliteStore
from drivers.destination import Destination
from drivers.store_retention import Retention
from gateway.config import (
    InfluxSinkConfig,
    MqttSinkConfig,
    RetentionConfig,
    SiteConfig,
    SqliteSinkConfig,
)
from gateway.forward.forwarder import Forwarder
from gateway.forward.platform_link import platform_link
from gateway.forward.stats import ForwardStats
from gateway.forward.store_writer import StoreWriter
from gateway.storage.paths import DEFAULT_READING_STORE, reading_store_path
from gateway.vocab import ChannelMeta

log = logging.getLogger(__name__)


@dataclass
class Forwarding:
    """The store, its writer and one forwarder per destination; ``services`` run them."""

    store: SqliteStore
    writer: StoreWriter
    forwarders: list[Forwarder]
    retention_every_s: float

    async def enter(self, stack: AsyncExitStack) -> None:
        await stack.enter_async_context(self.store)
        for forwarder in self.forwarders:
            await stack.enter_async_context(forwarder.destination)

    def services(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        services: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("store-writer", self.writer.run),
            ("store-retention", self._keep_retention),
        ]
        services += [(f"forward:{f.name}", f.run) for f in self.forwarders]
        return services

    async def _keep_retention(self) -> None:
        while True:
            await self.store.enforce_retention()
            await asyncio.sleep(self.retention_every_s)

    def stats(self) -> list[ForwardStats]:
        for f in self.forwarders:
            if evicted := self.store.counters.evicted_unsent.get(f.name, 0):
                f.stats.dropped["evicted"] = evicted
        return [f.stats for f in self.forwarders]


def build_forwarding(
    config: SiteConfig,
    channels: list[ChannelMeta],
    base_dir: Path,
    broker_link: Callable[[str | None], MqttLink],
    clock: Callable[[], float] = time.time,
) -> Forwarding | None:
    """None when the site stores nothing and forwards nowhere."""
    store_config = next((s for s in config.sinks if isinstance(s, SqliteSinkConfig)), None)
    forwards = [s for s in config.sinks if isinstance(s, MqttSinkConfig | InfluxSinkConfig)]
    if store_config is None and not forwards:
        return None
    if store_config is None:
        # Forwarding needs somewhere durable to keep what the far side has not acknowledged.
        store_config = SqliteSinkConfig(type="sqlite", path=DEFAULT_READING_STORE)
        log.info("no sqlite sink configured: the forward queues live in %s", DEFAULT_READING_STORE)
    path = reading_store_path(config, base_dir)
    store = SqliteStore(
        path,
        channels,
        site=config.site.id,
        destinations=[s.name for s in forwards],
        retention=_retention(store_config.retention),
        clock=clock,
    )
    forwarders = []
    for sink in forwards:
        destination = _destination(config, sink, store, broker_link)
        stats = ForwardStats(sink.name, sink.type)
        forwarder = Forwarder(
            destination, store, stats, sink.backlog_rate, clock=clock, in_flight=destination.in_flight
        )
        forwarders.append(forwarder)
    writer = StoreWriter(store, forwarders, inflight_window=config.mqtt.inflight_window)
    return Forwarding(store, writer, forwarders, store_config.retention.check_every_s)


def _retention(config: RetentionConfig) -> Retention:
    return Retention(
        max_age_s=None if config.max_age_days is None else config.max_age_days * 86400.0,
        max_bytes=None if config.max_size_mb is None else int(config.max_size_mb * 1024**2),
    )


def _destination(
    config: SiteConfig,
    sink: MqttSinkConfig | InfluxSinkConfig,
    store: SqliteStore,
    broker_link: Callable[[str | None], MqttLink],
) -> Destination:
    if isinstance(sink, MqttSinkConfig):
        link = platform_link(config, sink, broker_link)
        prefix = sink.topic_prefix or config.topic_prefix
        client_id = sink.client_id or f"smartsite-{config.site.id}-up"
        if sink.name != "mqtt" and sink.client_id is None:
            client_id += f"-{sink.name}"
        return MqttUplink(link, prefix, store.channels, client_id=client_id, name=sink.name)
    # check-config refuses an unset token variable (gateway.config.secrets).
    token = os.environ.get(sink.token_env) if sink.token_env else None
    # Imported only when configured: influxdb-client brings aiohttp and reactivex (a third of a
    # second at start) that a site without InfluxDB never needs.
    from drivers.influx_destination import InfluxDestination

    return InfluxDestination(
        name=sink.name,
        url=sink.url,
        token=token,
        org=sink.org,
        bucket=sink.bucket,
        site=config.site.id,
        channels=store.channels,
        timeout_s=sink.timeout_s,
        max_points_per_request=sink.points_per_request,
        extra_tags=sink.tags,
    )
