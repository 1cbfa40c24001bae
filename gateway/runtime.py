"""The runtime: builds sources, analytics, alarm book and sinks from a site config and runs them.

Shutdown order matters: sources stop first, then the analytics and sinks drain what is in flight,
then the sinks close (the MQTT uplink says ``offline``). All within a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from zoneinfo import ZoneInfo

from drivers import MqttLink, MqttSource, SqliteStore
from drivers.alarm_store import AlarmStore
from drivers.device_time import TimePolicy
from drivers.source import Source
from drivers.store_history import HistoryResult, NoStoreError
from gateway.alarms.book import Reopening
from gateway.alarms.chatter_health import chattering_health
from gateway.alarms.clock_notice import ClockNotices, clock_channel
from gateway.alarms.desk import AlarmDesk
from gateway.alarms.pushes import Pushes
from gateway.config import MqttDeviceConfig, SiteConfig
from gateway.forward.build import build_forwarding
from gateway.forward.forwarder import Forwarder
from gateway.forward.stats import ForwardStats
from gateway.health import (
    AlarmsHealth,
    GatewayHealth,
    SinkView,
    SourceHealth,
    StoreWriterHealth,
    Suppressed,
)
from gateway.live.assemble import build_live
from gateway.modbus_build import build_modbus_hubs
from gateway.overload import CHANNEL as INTAKE_CHANNEL
from gateway.overload import OverloadWatch
from gateway.pipeline import Pipeline
from gateway.process.supervisor import TaskHealth, cancel_and_wait, supervised
from gateway.site import Site
from gateway.state.baseline_keeping import Baselines
from gateway.state.resume import Resumed, resume
from gateway.storage.failover import CHANNEL as FAILOVER_CHANNEL
from gateway.storage.failover import StoreFailover
from gateway.storage.paths import alarm_store_path
from gateway.storage.reserve import Reserve
from gateway.vocab import AlarmEvent, ChannelMeta, Quality, ReadingBatch, iso_utc
from gateway.weather import Weather

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 3.0
TICK_PERIOD_S = 5.0  # how often silent-sensor checks see the time when no data arrives
TRUSTED_CLOCK = TimePolicy("device", math.inf, math.inf)

Service = tuple[str, Callable[[], Awaitable[None]]]
if TYPE_CHECKING:
    from drivers.modbus import ModbusHub

# The concrete sources, for their health (the hub's module is loaded only for a site with Modbus devices).
Input: TypeAlias = "MqttSource | ModbusHub"


def _source_health(source: Input) -> SourceHealth:
    if isinstance(source, MqttSource):
        return SourceHealth(source.name, source.connected, rejected=source.rejected_total())
    return SourceHealth(source.name, source.connected, devices=source.counters())


class Runtime:
    def __init__(
        self,
        config: SiteConfig,
        base_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        trust_device_clocks: bool = False,
    ) -> None:
        """``trust_device_clocks``: take every plausible device stamp as it is, with no clock notice
        (``smartsite evaluate``, whose gateway clock stands still while a scenario plays)."""
        self.config = config
        self.trust_device_clocks = trust_device_clocks
        self.site = Site(config)
        self.clock = clock
        self.base_dir = base_dir or Path.cwd()
        self.forwarding = build_forwarding(
            config, self._channel_metas(), self.base_dir, self._broker_link, clock=clock
        )
        self.desk = self._build_desk()
        # Every alarm book reopens through the desk, which keeps the records.
        self.reopening = Reopening(config.alarms.reopen_window_s, self.desk.reopen_id, self.desk.is_closed)
        self.engine, self.book = self.site.analytics(self.reopening)
        mqtt_devices = [d for d in config.devices if isinstance(d, MqttDeviceConfig)]
        self.clock_notices = ClockNotices(self.site.id, mqtt_devices, reopening=self.reopening)
        self.sources = self._build_sources()
        emit = self._emit_weather  # the weather's alarm events go out through the pipeline (built below)
        self.weather = Weather(
            config, self.base_dir, emit, self._broker_link, clock, self.site.index.column, self.sources
        )
        self.live = build_live(self.site)
        self.baselines = Baselines(self.engine, self.book.binding_names(), self.desk.store, clock)
        self.resumed: Resumed | None = None
        self.pipeline = Pipeline(
            self.engine,
            self.book,
            # Sinks of every batch (stores and forwards are the durable writer's): the site's own
            # weather signals, when the site file names anemometers or a rain gauge, and the
            # dashboard's live feed.
            [*self.weather.sinks, self.live],
            on_events=self._publish_events,
            durable=self.forwarding.writer if self.forwarding is not None else None,
            cycles=self.site.cycle_detector(),
            site=self.site.id,
            judged=self.baselines.watch,
            store_derived=config.site.store_derived,
            alarm_sinks=[self.desk],
            clock=clock,
        )
        self.overload = OverloadWatch(
            self.site.id,
            self.pipeline.stats,
            self.pipeline.waiting_batches,
            self.pipeline.emit_events,
            clock,
            self.reopening,
        )
        self.failover = self._build_failover()
        self.task_health: dict[str, TaskHealth] = {}
        self.started_at: float | None = None
        self.started_monotonic: float | None = None
        self._listeners: set[asyncio.Queue[AlarmEvent]] = set()

    # Building

    def _broker_link(self, url: str | None = None) -> MqttLink:
        mqtt = self.config.mqtt
        password = os.environ.get(mqtt.password_env) if mqtt.password_env else None
        return MqttLink.from_url(
            url or mqtt.url, username=mqtt.username, password=password, keepalive=mqtt.keepalive
        )

    def _build_sources(self) -> list[Input]:
        sources: list[Input] = []
        topics = self.site.device_topics()
        if self.trust_device_clocks:
            topics = {t: dataclasses.replace(b, time=TRUSTED_CLOCK) for t, b in topics.items()}
        if topics:
            # With a local store, a message is acknowledged to the broker only once stored: the
            # broker keeps what a crash would otherwise lose (persistent session).
            durable = self.forwarding is not None and self.config.mqtt.persistent_session
            sources.append(
                MqttSource(
                    self._broker_link(),
                    topics,
                    wildcard=self.site.device_wildcard(),
                    naive_tz=ZoneInfo(self.config.site.timezone),
                    clock=self.clock,
                    identifier=self.config.mqtt.client_id or f"smartsite-{self.site.id}-in",
                    persistent_session=self.config.mqtt.persistent_session,
                    ack_after_store=durable,
                    clock_watch=None if self.trust_device_clocks else self._clock_seen,
                )
            )
        columns = {e.id: self.site.index.column(e.id) for e in self.site.channels if e.derived_by is None}
        sources += build_modbus_hubs(self.config, columns, clock=self.clock)
        return sources

    def _build_failover(self) -> StoreFailover | None:
        """Alarms go on while the local store cannot write (``gateway.storage.failover``)."""
        if self.forwarding is None:
            return None
        reserve = Reserve(alarm_store_path(self.config, self.base_dir).with_suffix(".reserve"))

        async def submit_live(batch: ReadingBatch) -> None:
            await self.pipeline.submit(batch, None, live=True)

        failover = StoreFailover(
            self.site.id,
            self.forwarding.writer,
            self._live_sources,
            submit_live,
            self.pipeline.emit_events,
            reserve,
            self.clock,
            self.reopening,
        )
        return failover

    def _live_sources(self) -> list[Source]:
        """MQTT clients for the live path: clean session, acknowledged at once, judged only."""
        topics = self.site.device_topics()
        if not topics:
            return []
        return [
            MqttSource(
                self._broker_link(),
                topics,
                wildcard=self.site.device_wildcard(),
                naive_tz=ZoneInfo(self.config.site.timezone),
                clock=self.clock,
                name="mqtt-in-live",
                identifier=f"{self.config.mqtt.client_id or f'smartsite-{self.site.id}-in'}-live",
            )
        ]

    def _emit_weather(self, events: list[AlarmEvent]) -> None:
        self.pipeline.emit_events(events)

    def _clock_seen(self, device: str, arrival: float, offset: float) -> None:
        self.pipeline.emit_events(self.clock_notices.observe(device, arrival, offset))

    def _build_desk(self) -> AlarmDesk:
        alarms = self.config.alarms
        path = alarm_store_path(self.config, self.base_dir)
        self.pushes = (
            Pushes(alarms, path, self._broker_link, self.config.topic_prefix, self.clock)
            if alarms.receivers
            else None
        )
        where = {e.id: (e.device.id, e.device.position) for e in self.site.channels}
        where |= {clock_channel(d.id): (d.id, d.position) for d in self.config.devices}
        where[FAILOVER_CHANNEL] = ("gateway", "")
        where[INTAKE_CHANNEL] = ("gateway", "")
        notify = self.pushes.outbox.enqueue if self.pushes is not None else None
        return AlarmDesk(self.site.id, alarms, AlarmStore(path), where, notify=notify, clock=self.clock)

    def _channel_metas(self) -> list[ChannelMeta]:
        return [ChannelMeta(e.id, e.device.id, e.quantity, e.config.unit or "") for e in self.site.channels]

    @property
    def store(self) -> SqliteStore | None:
        return self.forwarding.store if self.forwarding is not None else None

    def forwarder(self, name: str) -> Forwarder:
        if self.forwarding is None:
            raise LookupError("no destinations configured")
        return next(f for f in self.forwarding.forwarders if f.name == name)

    # Running

    async def run(self, stop: asyncio.Event, services: list[Service] | None = None) -> None:
        """Run until ``stop`` is set, then drain and close everything."""
        self.started_at = self.clock()
        self.started_monotonic = time.monotonic()
        async with AsyncExitStack() as stack:
            if self.pushes is not None:  # before the desk, which hands it notices
                await stack.enter_async_context(self.pushes)
            if self.forwarding is not None:
                await self.forwarding.enter(stack)
            await stack.enter_async_context(self.desk)
            await stack.enter_async_context(self.weather)  # before its sinks: the local signals write to it
            for sink in self.weather.sinks:
                await stack.enter_async_context(sink)
            await stack.enter_async_context(self.live)
            await self.resume()
            for source in self.sources:
                await stack.enter_async_context(source)
            async with asyncio.TaskGroup() as group:
                feeders = [
                    self._start(group, source.name, functools.partial(self.pipeline.feed, source))
                    for source in self.sources
                ]
                # The clock tick makes events too: it stops with the sources, before the drain.
                feeders.append(self._start(group, "clock-tick", self._tick))
                workers = [self._start(group, "analytics", self.pipeline.run)]
                workers += [self._start(group, f"sink:{w.sink.name}", w.run) for w in self.pipeline.workers]
                if self.forwarding is not None:
                    workers += [self._start(group, n, run) for n, run in self.forwarding.services()]
                workers += [self._start(group, name, run) for name, run in services or []]
                workers += [self._start(group, name, run) for name, run in self.weather.services()]
                workers.append(self._start(group, "alarm-escalation", self.desk.run_escalation))
                workers.append(self._start(group, "baselines", self.baselines.run))
                if self.failover is not None:
                    workers.append(self._start(group, "store-failover", self.failover.run))
                workers.append(self._start(group, "overload-watch", self.overload.run))
                await stop.wait()
                log.info("stopping: closing sources, draining the pipeline")
                await cancel_and_wait(feeders)
                if not await self.pipeline.drain(DRAIN_TIMEOUT_S):
                    log.error(
                        "not everything was stored within %.0f s of the stop: %s; readings from "
                        "MQTT come back from the broker's session at the next start, the others "
                        "are lost",
                        DRAIN_TIMEOUT_S,
                        self.pipeline.waiting(),
                    )
                await self.baselines.flush()
                await cancel_and_wait(workers)
        log.info("stopped")

    async def resume(self) -> Resumed:
        """Before the first live reading (stores and desk open): baselines, windows and active
        alarms as they were before the restart (``gateway.state.resume``)."""
        self.resumed = await resume(self.site, self.engine, self.book, self.desk, self.baselines, self.store)
        await self.baselines.flush()
        return self.resumed

    async def _tick(self) -> None:
        await self.pipeline.tick_every(TICK_PERIOD_S, self.clock)

    def _start(
        self, group: asyncio.TaskGroup, name: str, run: Callable[[], Awaitable[None]]
    ) -> asyncio.Task[None]:
        health = self.task_health.setdefault(name, TaskHealth(name))
        return group.create_task(supervised(name, run, health), name=name)

    # Live alarm events for streaming clients

    def subscribe_events(self, maxsize: int = 1000) -> asyncio.Queue[AlarmEvent]:
        queue: asyncio.Queue[AlarmEvent] = asyncio.Queue(maxsize)
        self._listeners.add(queue)
        return queue

    def unsubscribe_events(self, queue: asyncio.Queue[AlarmEvent]) -> None:
        self._listeners.discard(queue)

    def _publish_events(self, events: list[AlarmEvent]) -> None:
        for queue in self._listeners:
            for event in events:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(event)

    # Views for the API

    def channels(self) -> list[dict[str, Any]]:
        state = self.engine.state
        grade = self.engine.channel_grade()
        out = []
        for col, entry in enumerate(self.site.channels):
            ts = float(state.last_ts[col])
            value = float(state.last_value[col])
            has_reading = math.isfinite(ts)
            out.append(
                {
                    "id": entry.id,
                    "device": entry.device.id,
                    "quantity": entry.quantity,
                    "unit": entry.config.unit,
                    "value": value if has_reading and math.isfinite(value) else None,
                    "ts": iso_utc(ts) if has_reading else None,
                    "quality": Quality.describe(int(state.last_quality[col])) if has_reading else None,
                    "grade": int(grade[col]),
                }
            )
        return out

    def forward_stats(self) -> list[ForwardStats]:
        return self.forwarding.stats() if self.forwarding is not None else []

    def store_stats(self) -> dict[str, int] | None:
        return self.store.stats() if self.store is not None else None

    async def history(self, channel: str, start: float, end: float, step: float | None) -> HistoryResult:
        """A channel's readings from the local store (``drivers.store_history``), in its thread.

        Raises UnknownChannelError, TooManyBucketsError, and NoStoreError without a store.
        """
        if self.store is None:
            raise NoStoreError()
        return await self.store.history(channel, start, end, step)

    def _time_rejected(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for source in self.sources:
            if isinstance(source, MqttSource):
                total += source.time_rejected()
        return total

    def health(self) -> dict[str, Any]:
        """Health as ``/api/v1/health`` shows it (JSON)."""
        return self.health_view().as_dict()

    def _failover_health(self, failover: StoreFailover) -> dict[str, object]:
        stats = self.pipeline.stats
        return {
            **failover.health(),
            "live_readings": stats.live_readings,
            "stored_unjudged": stats.stored_unjudged,
            "unjudged_gap": stats.unjudged_gap,
        }

    def health_view(self) -> GatewayHealth:
        now = self.clock()
        names = self.book.binding_names()
        stats = self.pipeline.stats
        writer = self.forwarding.writer.health if self.forwarding is not None else None
        controls = self.desk.controls_health()
        return GatewayHealth(
            # Not ok while the store cannot write (alarms go on, nothing is kept or forwarded) or
            # while the intake is behind (alarms and live data come late).
            status="degraded"
            if (self.failover is not None and self.failover.active) or self.overload.behind
            else "ok",
            store_failover=None if self.failover is None else self._failover_health(self.failover),
            site=self.site.id,
            uptime_s=None if self.started_at is None else round(now - self.started_at, 1),
            readings=stats.readings,
            alarm_events=stats.events,
            crane_cycles=stats.cycles,
            analytics_failures=stats.analytics_failures,
            rejected=dict(stats.rejected + self._time_rejected()),
            intake=self.overload.health(),
            sources=[_source_health(s) for s in self.sources],
            clocks_off=self.clock_notices.off(),
            store=self.store_stats(),
            store_writer=None
            if writer is None
            else StoreWriterHealth(
                written_batches=writer.written,
                waiting_readings=writer.queue_depth,
                retries=writer.retries,
                failing=writer.failing,
                last_error=writer.last_error,
            ),
            destinations=self.forward_stats(),
            sinks=[
                SinkView(
                    name=w.health.name,
                    written=w.health.written,
                    queue_depth=w.queue.qsize(),
                    retries=w.health.retries,
                    dropped_batches=w.health.dropped_batches,
                    kept_beyond_bound=w.queue.over_bound,
                    failing=w.health.failing,
                    last_error=w.health.last_error,
                )
                for w in self.pipeline.workers
            ],
            alarms=AlarmsHealth(
                open=sum(1 for r in self.desk.records.values() if r.status != "closed"),
                active=sum(1 for r in self.desk.records.values() if r.active),
                notices=self.desk.notices_made,
                shelved=controls["shelved"],
                maintenance=controls["maintenance"],
                suppressed=Suppressed(**controls["suppressed"]),
            ),
            resumed=None if self.resumed is None else self.resumed.as_dict(),
            baselines=self.baselines.health(),
            chattering=chattering_health(
                self.engine.chatter, [c for c, _, _ in names], [r for _, r, _ in names]
            ),
            pushes=list(self.pushes.stats().values()) if self.pushes is not None else [],
            tasks=list(self.task_health.values()),
            weather=self.weather.health(),
        )
