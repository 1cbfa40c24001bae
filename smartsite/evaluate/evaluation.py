"""Run a scenario through a real gateway in this process and collect its alarm events.

The gateway is the production :class:`~gateway.runtime.Runtime`: MQTT input, analytics, alarm book,
alarm desk with its SQLite store, SQLite and MQTT uplink sinks, all on an embedded amqtt broker on a
free loopback port and a temporary folder. Only the site's edges are changed (see
:func:`evaluation_config`).

Why every device goes over MQTT here, Modbus ones included: ``evaluate`` plays a scenario far faster
than real time (a pit week in seconds), and the gateway must judge the readings in *scenario* time,
so every reading has to carry the time it belongs to. An MQTT message carries its ``ts``; a Modbus
register does not: the hub stamps each reading with its own wall clock when it polls, so a Modbus
slave can only be played in real time (``smartsite simulate``, the demo). The Modbus devices of the
site file therefore become MQTT devices with the same channels (ranges and units), published with
the data time of each frame. Register decoding is tested elsewhere; the analytics and alarms see
the same channels either way.

Why several readings per message (``batch_s``): the gateway analyses each MQTT message in its own
pass of the analytics core (a few milliseconds each), so one message per reading caps a run at a
few hundred readings per second. So each device whose readings no rule joins with another device's
sends the readings of ``batch_s`` scenario seconds in one message (the device is configured with the
matching payload layout); every reading still carries its own data time and each channel stays in
time order, and nothing else depends on the order across devices. The devices a rule does join
(a combined rule's conditions: the crane's load and the anemometer's wind; a crane's radius from
another device) keep one message per reading, in time order: a combined rule judges each reading
against the other devices' newest reading as of its time, and a slice of one device analysed before
the same slice of another would show it readings from the future (a false "lifting in wind" alarm
seen that way). ``batch_s=0`` sends one message per reading for every device.

The gateway's clock: a wall clock would find every sensor of a past scenario silent, and a clock
following the data would race the readings still in flight. So the gateway's clock stands at the
scenario start, and the only time-driven check (a sensor gone silent, raised at its last usable
reading + ``silent_s``) gets two explicit ticks: at the start, which arms the sensors that never
report, and at the end of the run, which raises those silent up to the end. In between, a silence is
raised from the gap before the next reading, at the same data time a real-time gateway's periodic
tick would give it; every other rule is judged on the data alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drivers import MqttSource
from gateway.config import (
    CombinedRuleConfig,
    CraneRuleConfig,
    DeviceConfig,
    MqttDeviceConfig,
    SiteConfig,
    SqliteSinkConfig,
    match_channels,
)
from gateway.config.models import PayloadConfig
from gateway.runtime import Runtime
from gateway.site import Site
from gateway.vocab import AlarmEvent
from simulators.publish import (
    BrokerAddress,
    FrameLike,
    MqttPlayer,
    PlayStats,
    batch_layout,
    mqtt_topics,
    play,
)
from smartsite.demo import embedded_broker, free_port

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 15.0
SETTLE_TIMEOUT_S = 120.0  # after the last publish is acknowledged, for the gateway to analyse it
STOP_TIMEOUT_S = 8.0
MAX_INFLIGHT = 200


class EvaluationError(RuntimeError):
    """The run could not be completed (the gateway never connected or never caught up)."""


@dataclass(slots=True)
class RunResult:
    events: list[AlarmEvent]
    play: PlayStats
    readings: int  # analysed by the gateway
    wall_s: float
    batch_s: float
    health: dict[str, object] = field(default_factory=dict)


def auto_batch_s(duration_s: float) -> float:
    """Slices of 10 s for runs up to about half an hour, longer for longer runs (a pit week), at most
    half an hour: a run is then some hundreds of slices."""
    return min(1800.0, max(10.0, duration_s / 144.0))


def coupled_devices(config: SiteConfig) -> set[str]:
    """Devices whose readings a rule joins with another device's: the conditions of a combined rule,
    a crane rule's load and radius (derived channels count as their source device's)."""
    device_of = {e.id: e.device.id for e in Site(config).channels}
    ids = list(device_of)
    out: set[str] = set()
    for rule in config.rules:
        if isinstance(rule, CombinedRuleConfig):
            names = [c.channel for c in rule.all_of]
        elif isinstance(rule, CraneRuleConfig):
            names = [*rule.channels, rule.radius]
        else:
            continue
        devices = {device_of[c] for name in names for c in match_channels(name, ids)}
        if len(devices) > 1:
            out |= devices
    return out


def as_mqtt_device(device: DeviceConfig, batched: bool) -> MqttDeviceConfig:
    """The device as an MQTT device with the same id, place, topic and channels, publishing the
    contract's payload, or its batched form (:func:`simulators.publish.batch_layout`)."""
    payload = PayloadConfig.model_validate(batch_layout(device.channels)) if batched else None
    return MqttDeviceConfig(
        type="mqtt",
        id=device.id,
        name=device.name,
        position=device.position,
        topic=device.topic if isinstance(device, MqttDeviceConfig) else None,
        channels=device.channels,
        payload=payload,
    )


def evaluation_config(
    base: SiteConfig, broker_port: int, folder: Path, batched: Collection[str] = ()
) -> SiteConfig:
    """The site file as ``evaluate`` runs it.

    Every device publishes over MQTT (Modbus devices converted, see the module docstring; vendor
    payload layouts replaced by the contract's payload, or its batched form for the ``batched``
    devices), to the embedded broker;
    the SQLite sink and the alarm store live in ``folder``; no push receivers and no escalation tiers
    (nobody is told). Rules, channels and everything the analytics see are as in the site file.
    """
    devices = [as_mqtt_device(d, d.id in batched) for d in base.devices]
    sinks = [
        SqliteSinkConfig(type="sqlite", path=str(folder / "smartsite.db")) if s.type == "sqlite" else s
        for s in base.sinks
    ]
    sinks = [s.model_copy(update={"broker": None}) if s.type == "mqtt" else s for s in sinks]
    return base.model_copy(
        update={
            "mqtt": base.mqtt.model_copy(
                update={"url": f"mqtt://127.0.0.1:{broker_port}", "username": None, "password_env": None}
            ),
            "buses": [],
            "devices": devices,
            "sinks": sinks,
            "alarms": base.alarms.model_copy(
                update={"store": str(folder / "alarms.db"), "receivers": [], "tiers": []}
            ),
        }
    )


async def run_frames(
    site: SiteConfig,
    frames: Iterable[FrameLike],
    *,
    start_ts: float,
    end_ts: float | None = None,
    speed: float = math.inf,
    folder: Path | None = None,
    settle_timeout_s: float = SETTLE_TIMEOUT_S,
    batch_s: float | None = None,
    warnings: Sequence[tuple[float, bytes]] = (),
) -> RunResult:
    """Publish ``frames`` (data time ``start_ts + t_s``) to a fresh gateway for ``site``.

    Returns once the gateway has analysed every reading it was sent, after a last clock tick at
    ``end_ts`` (the end of the scenario, so a sensor silent up to the end is noticed), with every
    alarm event it made. Raises :class:`EvaluationError` past the deadlines. ``batch_s``: scenario
    seconds of readings per message and device (see the module docstring); None: by the run's
    length (:func:`auto_batch_s`), 0: one message per reading. ``warnings``: CAP documents the
    platform sends at their scenario time, handed to the gateway's warning desk once the readings
    before that time are analysed (its clock then moves to that time, see :func:`_play_with_warnings`).
    """
    if batch_s is None:
        batch_s = auto_batch_s((end_ts - start_ts) if end_ts is not None else 0.0)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="smartsite-evaluate-")))
        broker_port = free_port()
        coupled = coupled_devices(site)
        batched = [d.id for d in site.devices if d.id not in coupled] if batch_s > 0 else []
        config = evaluation_config(site, broker_port, folder, batched=batched)
        async with embedded_broker(broker_port):
            # The clock stands at the start: the scenario's device stamps are right by construction.
            now = [start_ts]  # moved on only to send a warning (below)
            runtime = Runtime(config, base_dir=folder, clock=lambda: now[0], trust_device_clocks=True)
            queue = runtime.subscribe_events(maxsize=0)
            stop = asyncio.Event()
            running = asyncio.create_task(runtime.run(stop), name="evaluate-gateway")
            try:
                await _until(lambda: _inputs_connected(runtime), CONNECT_TIMEOUT_S, running, "connect")
                runtime.pipeline.tick(start_ts)
                topics = mqtt_topics(config)
                broker = BrokerAddress("127.0.0.1", broker_port)
                player = MqttPlayer(
                    broker,
                    topics,
                    start_ts=start_ts,
                    max_inflight=MAX_INFLIGHT,
                    identifier="evaluate-devices",
                    batch_s=batch_s,
                    unbatched=coupled,
                )
                async with player:
                    if warnings:
                        stats = await _play_with_warnings(
                            frames, warnings, speed, player, runtime, running, settle_timeout_s, now
                        )
                    else:
                        stats = await play(frames, speed=speed, mqtt=player)
                await _until(
                    lambda: _caught_up(runtime, stats.mqtt.messages), settle_timeout_s, running, "analyse"
                )
                if end_ts is not None:
                    runtime.pipeline.tick(end_ts)
                health = runtime.health()
            finally:
                stop.set()
                try:
                    await asyncio.wait_for(asyncio.shield(running), STOP_TIMEOUT_S)
                except TimeoutError:
                    running.cancel()
                    await asyncio.gather(running, return_exceptions=True)
            runtime.unsubscribe_events(queue)
            events: list[AlarmEvent] = []
            while not queue.empty():
                events.append(queue.get_nowait())
            return RunResult(
                events=events,
                play=stats,
                readings=runtime.pipeline.stats.readings,
                wall_s=time.monotonic() - started,
                batch_s=batch_s,
                health=health,
            )
    raise AssertionError("unreachable")  # for mypy: the ExitStack never swallows


async def _play_with_warnings(
    frames: Iterable[FrameLike],
    warnings: Sequence[tuple[float, bytes]],
    speed: float,
    player: MqttPlayer,
    runtime: Runtime,
    running: asyncio.Task[None],
    settle_timeout_s: float,
    now: list[float],
) -> PlayStats:
    """The frames up to each warning's time, analysed, then the warning (the gateway's clock set to
    its time, so the warning and its alarm carry it), and so on; then the rest. At a finite speed
    the frames play in one go and each warning is sent at its wall time instead."""
    start_ts = now[0]

    async def send(t_s: float, document: bytes) -> None:
        now[0] = start_ts + t_s
        await runtime.weather.desk.receive(document)

    if not (speed == 0 or math.isinf(speed)):

        async def on_time() -> None:
            for t_s, document in warnings:
                await asyncio.sleep(max(0.0, t_s / speed - (time.monotonic() - started)))
                await send(t_s, document)

        started = time.monotonic()
        timed = asyncio.create_task(on_time())
        stats = await play(frames, speed=speed, mqtt=player)
        await timed
        return stats
    source = iter(frames)
    held: list[FrameLike] = []

    def before(t_s: float) -> Iterator[FrameLike]:
        if held:
            if held[0].t_s >= t_s:
                return
            yield held.pop()
        for frame in source:
            if frame.t_s >= t_s:
                held.append(frame)
                return
            yield frame

    total = PlayStats()
    for t_s, document in [*warnings, (math.inf, b"")]:
        part = await play(before(t_s), speed=speed, mqtt=player)
        total.frames += part.frames
        total.modbus_frames += part.modbus_frames
        total.unrouted += part.unrouted
        total.last_t_s = part.last_t_s if part.last_t_s is not None else total.last_t_s
        total.wall_s += part.wall_s
        total.mqtt = part.mqtt  # the player's own, counted over the whole run
        if document:
            caught_up = functools.partial(_caught_up, runtime, part.mqtt.messages)
            await _until(caught_up, settle_timeout_s, running, "analyse")
            await send(t_s, document)
    return total


def _mqtt_sources(runtime: Runtime) -> list[MqttSource]:
    return [s for s in runtime.sources if isinstance(s, MqttSource)]


def _inputs_connected(runtime: Runtime) -> bool:
    return all(s.connected for s in _mqtt_sources(runtime))


def _caught_up(runtime: Runtime, published: int) -> bool:
    """Every published message has arrived and every reading it carried is analysed."""
    sources = _mqtt_sources(runtime)
    arrived = sum(st.messages for s in sources for st in s.stats.values())
    decoded = sum(st.readings for s in sources for st in s.stats.values())
    return arrived >= published and runtime.pipeline.stats.readings >= decoded


async def _until(
    check: Callable[[], bool], deadline_s: float, running: asyncio.Task[None], what: str
) -> None:
    end = time.monotonic() + deadline_s
    while not check():
        if running.done():
            exc = None if running.cancelled() else running.exception()
            raise EvaluationError(f"the gateway stopped before it could {what}: {exc!r}")
        if time.monotonic() > end:
            raise EvaluationError(f"the gateway did not {what} within {deadline_s:g} s")
        await asyncio.sleep(0.02)


__all__ = [
    "EvaluationError",
    "RunResult",
    "as_mqtt_device",
    "auto_batch_s",
    "coupled_devices",
    "evaluation_config",
    "run_frames",
]
