"""Play a scenario's frames over the real protocols: MQTT publishers and Modbus RTU slaves.

Frames come from :func:`simulators.generate.readings` (scenario time ``t_s`` in seconds, a device,
its values, and an optional protocol-level ``fault``). The players here only carry them:

* :class:`MqttPlayer` publishes each frame on the device's topic (the contract's
  ``smartsite/<site>/devices/<device>/up`` unless the site file names another one), payload
  ``{"ts": start + t_s, "values": {...}}``, QoS 1 with a bounded number of messages in flight. The
  timestamp is DATA time, so a gateway judges the readings in scenario time at any speed.
* :class:`ModbusPlayer` serves the site file's ``type: modbus`` devices as slaves (one
  :class:`~simulators.modbus_slaves.SlaveBus` per bus, over a pty link or RTU-over-TCP) and writes each
  frame's values into the registers the device's register map names, encoded as the map says (type,
  scale, offset, word and byte order). The gateway polls them and stamps readings with its own wall
  clock, so Modbus play is meant for real time (speed 1).
* :func:`play` walks the frames in order, paced by a speed factor (``speed`` scenario seconds per
  wall second; 0 or infinity: as fast as the link takes them), handing each to the right player.

Faults: ``offline`` (an MQTT device going quiet) publishes nothing. On a Modbus device ``silent``
and ``cable_cut`` stop the unit answering (:meth:`SlaveBus.silence`) and ``crc`` garbles its answers:
with a serial relay, noise on the line (bytes flipped, so the master sees CRC errors); over TCP,
:meth:`SlaveBus.noise` when the bus has it, else an exception answer, which the gateway marks bad the
same way. A frame without a fault restores the unit. When a Modbus device is played over MQTT
(``evaluate`` does so, see :mod:`smartsite.evaluate`), ``silent``/``cable_cut`` publish nothing, as a
dead slave yields no usable reading, and ``crc`` publishes the values as ``null``: readings that
arrive but are unusable.

Simulators see the gateway only from outside: this module imports :mod:`gateway.config` (the site
description) and nothing else of the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiomqtt

from gateway.config import MqttDeviceConfig, SiteConfig
from gateway.config.modbus import ModbusDeviceConfig, RegisterConfig, SerialBusConfig
from gateway.vocab.broker_url import BrokerUrl, parse_broker_url
from simulators.modbus_slaves import SlaveBus, Table, Unit, encode
from simulators.serial_relay import SerialRelay

log = logging.getLogger(__name__)

# aiomqtt logs a warning for every concurrent publish past 10; that costs more than the publish.
_client_log = logging.getLogger("smartsite.simulators.aiomqtt")
_client_log.setLevel(logging.ERROR)

# Faults that make an MQTT-published device say nothing, and those that make it say "unusable".
SILENT_FAULTS = frozenset({"offline", "silent", "cable_cut"})
GARBLED_FAULTS = frozenset({"crc"})
# Probability per byte of a flipped bit on a serial line with a ``crc`` fault (a bad cable).
CRC_LINE_NOISE = 0.05
DEFAULT_INFLIGHT = 64


class FrameLike(Protocol):
    """What the players need of a :class:`simulators.generate.Frame`."""

    @property
    def t_s(self) -> float: ...

    @property
    def device(self) -> str: ...

    @property
    def values(self) -> Mapping[str, float | None] | None: ...

    @property
    def fault(self) -> str | None: ...


# Pacing


class Pacer:
    """Waits until a frame's scenario time is due in wall time: ``t_s / speed`` after the start.

    ``speed`` 0 or infinity means no waiting at all (as fast as possible).
    """

    def __init__(self, speed: float, clock: Callable[[], float] = time.monotonic) -> None:
        if speed < 0 or math.isnan(speed):
            raise ValueError("speed must be 0 (as fast as possible) or above")
        self.speed = speed
        self.fast = speed == 0 or math.isinf(speed)
        self._clock = clock
        self._t0: float | None = None
        self._first_t: float = 0.0

    async def wait(self, t_s: float) -> None:
        if self.fast:
            return
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
            self._first_t = min(t_s, 0.0)
        due = self._t0 + (t_s - self._first_t) / self.speed
        if due > now:
            await asyncio.sleep(due - now)


# MQTT


@dataclass(frozen=True, slots=True)
class BrokerAddress(BrokerUrl):
    """A broker as the simulated devices reach it."""

    @classmethod
    def from_url(cls, url: str) -> BrokerAddress:
        """``mqtt://[user:pass@]host[:port]`` or ``mqtts://`` for TLS; a bare ``host:port`` is mqtt://."""
        try:
            broker = parse_broker_url(url if "://" in url else f"mqtt://{url}")
        except ValueError as exc:
            raise ValueError(f"not an MQTT URL: {url!r} ({exc})") from None
        return cls(broker.host, broker.port, broker.tls, broker.username, broker.password)

    def client(self, identifier: str, max_inflight: int) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=identifier,
            tls_context=ssl.create_default_context() if self.tls else None,
            logger=_client_log,
            timeout=10,
            max_inflight_messages=max_inflight,
        )


def mqtt_topics(config: SiteConfig, devices: Iterable[str] | None = None) -> dict[str, str]:
    """The topic each MQTT device of the site publishes on (as the gateway subscribes to it)."""
    wanted = None if devices is None else set(devices)
    prefix = config.topic_prefix
    return {
        d.id: d.topic or f"{prefix}/devices/{d.id}/up"
        for d in config.devices
        if isinstance(d, MqttDeviceConfig) and (wanted is None or d.id in wanted)
    }


def payload_values(
    values: Mapping[str, float | None] | None, fault: str | None, unusable: str | None = None
) -> dict[str, float | str | None] | None:
    """The ``values`` object of one frame's message, or None when the device says nothing.

    A quantity whose value is None (a dropout) is left out; a non-finite value and every value of a
    ``crc`` frame go as ``unusable`` (``null`` in the contract's payload), which the gateway takes
    as an unusable reading.
    """
    if fault in SILENT_FAULTS or not values:
        return None
    garbled = fault in GARBLED_FAULTS
    out: dict[str, float | str | None] = {}
    for quantity, value in values.items():
        if value is None:
            continue
        out[quantity] = unusable if garbled or not math.isfinite(value) else value
    return out or None


def mqtt_payload(ts: float, values: Mapping[str, float | None] | None, fault: str | None) -> bytes | None:
    """The contract's JSON for one frame (``{"ts": ..., "values": {...}}``), or None (see
    :func:`payload_values`)."""
    out = payload_values(values, fault)
    if out is None:
        return None
    return json.dumps({"ts": round(ts, 3), "values": out}, separators=(",", ":")).encode()


@dataclass(slots=True)
class PublishStats:
    messages: int = 0  # acknowledged by the broker (QoS 1)
    readings: int = 0  # values in those messages
    withheld: int = 0  # frames that published nothing (offline, dropout)
    last_ts: float | None = None  # data time of the last message sent
    per_device: dict[str, int] = field(default_factory=dict)


BATCH_READINGS_KEY = "readings"
MAX_BATCH_READINGS = 500  # readings per batched message (well under the gateway's payload limit)
BATCH_UNUSABLE = "crc"  # a value the gateway flags unusable in a batched reading (null = missing)


def batch_layout(quantities: Iterable[str]) -> dict[str, Any]:
    """The ``payload:`` layout a device needs for :class:`MqttPlayer`'s batched messages:
    ``{"readings": [{"ts": ..., "values": {...}}, ...]}`` (the contract's reading, several at once)."""
    return {
        "readings": f"$.{BATCH_READINGS_KEY}",
        "ts": "$.ts",
        "values": {q: f'$.values."{q}"' for q in quantities},
    }


class MqttPlayer:
    """One MQTT connection publishing frames of the given devices; an async context manager.

    Publishes are QoS 1 and run concurrently up to ``max_inflight`` unacknowledged messages, in the
    order the frames come (one connection keeps the order per topic). :meth:`flush` waits for every
    acknowledgement; leaving the context flushes.

    ``batch_s`` > 0 sends several readings per message: frames are gathered per device over slices
    of ``batch_s`` scenario seconds, and at the end of each slice every device's readings go as one
    message ``{"readings": [{"ts", "values"}, ...]}`` (the gateway's device needs the
    :func:`batch_layout` payload layout). Each reading keeps its own data time and every channel
    stays in time order; across devices the order is kept only to within a slice, except among the
    ``unbatched`` devices, which send one contract message per reading as they come.
    """

    def __init__(
        self,
        broker: BrokerAddress,
        topics: Mapping[str, str],
        *,
        start_ts: float,
        max_inflight: int = DEFAULT_INFLIGHT,
        identifier: str = "smartsite-simulator",
        batch_s: float = 0.0,
        unbatched: Iterable[str] = (),
    ) -> None:
        self.broker = broker
        self.topics = dict(topics)
        self.start_ts = start_ts
        self.max_inflight = max(1, max_inflight)
        self.identifier = identifier
        self.batch_s = batch_s
        self.unbatched = frozenset(unbatched)
        self.stats = PublishStats()
        self._client: aiomqtt.Client | None = None
        self._slots = asyncio.Semaphore(self.max_inflight)
        self._pending: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None
        self._slice_end: float | None = None
        self._batches: dict[str, list[dict[str, Any]]] = {}

    async def __aenter__(self) -> MqttPlayer:
        client = self.broker.client(self.identifier, self.max_inflight)
        await client.__aenter__()
        self._client = client
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc is None:
                await self.flush()
        finally:
            client, self._client = self._client, None
            for task in self._pending:
                task.cancel()
            await asyncio.gather(*self._pending, return_exceptions=True)
            if client is not None:
                with contextlib.suppress(aiomqtt.MqttError):
                    await client.__aexit__(None, None, None)

    def handles(self, device: str) -> bool:
        return device in self.topics

    async def send(self, frame: FrameLike) -> None:
        """Publish one frame (or nothing, for an offline device); waits while too many are in flight."""
        if self._error is not None:
            raise self._error
        if self.batch_s > 0:
            if self._slice_end is not None and frame.t_s >= self._slice_end:
                await self._send_batches()
            self._slice_end = (math.floor(frame.t_s / self.batch_s) + 1) * self.batch_s
        topic = self.topics.get(frame.device)
        ts = round(self.start_ts + frame.t_s, 3)
        batched = self.batch_s > 0 and frame.device not in self.unbatched
        values = payload_values(frame.values, frame.fault, BATCH_UNUSABLE if batched else None)
        if topic is None or values is None:
            self.stats.withheld += 1
            return
        reading = {"ts": ts, "values": values}
        if not batched:
            await self._submit(frame.device, json.dumps(reading, separators=(",", ":")), len(values), ts)
            return
        batch = self._batches.setdefault(frame.device, [])
        batch.append(reading)
        if len(batch) >= MAX_BATCH_READINGS:
            await self._send_batch(frame.device)

    async def _send_batches(self) -> None:
        for device in list(self._batches):
            await self._send_batch(device)

    async def _send_batch(self, device: str) -> None:
        readings = self._batches.pop(device, [])
        if not readings:
            return
        payload = json.dumps({BATCH_READINGS_KEY: readings}, separators=(",", ":"))
        count = sum(len(r["values"]) for r in readings)
        await self._submit(device, payload, count, readings[-1]["ts"])

    async def _submit(self, device: str, payload: str, count: int, ts: float) -> None:
        assert self._client is not None, "MqttPlayer used outside its context"
        await self._slots.acquire()
        task = asyncio.create_task(self._publish(self.topics[device], payload.encode(), device, count, ts))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish(self, topic: str, payload: bytes, device: str, count: int, ts: float) -> None:
        assert self._client is not None
        try:
            await self._client.publish(topic, payload, qos=1, timeout=30)
        except (aiomqtt.MqttError, TimeoutError) as exc:
            self._error = exc
            return
        finally:
            self._slots.release()
        stats = self.stats
        stats.messages += 1
        stats.readings += count
        stats.per_device[device] = stats.per_device.get(device, 0) + 1
        if stats.last_ts is None or ts > stats.last_ts:
            stats.last_ts = ts

    async def flush(self) -> None:
        """Send what is gathered, then wait until every message is acknowledged; raises the first
        publish error."""
        if self._error is None:
            await self._send_batches()
        if self._pending:
            await asyncio.gather(*list(self._pending))
        if self._error is not None:
            raise self._error


# Modbus


@dataclass(slots=True)
class _Slave:
    """A Modbus device of the site as the player writes it: its bus, unit and registers."""

    device: ModbusDeviceConfig
    bus: str
    registers: dict[str, RegisterConfig]


def register_words(value: float, register: RegisterConfig) -> list[int] | None:
    """The raw words a device shows for an engineering value, as its register map encodes it."""
    dtype = register.type
    if dtype == "bool":
        return [1 if value else 0]
    if not math.isfinite(value) and not dtype.startswith("float"):
        return None
    return encode(
        value,
        dtype,
        scale=register.scale,
        offset=register.offset,
        word_order=register.word_order,
        byte_order=register.byte_order,
    )


def _no_value_words(register: RegisterConfig) -> list[int] | None:
    """What a device sends when it has no reading: its ``no_value`` sentinel, or NaN for floats."""
    if register.no_values:
        raw = register.no_values[0]
        return register_words(raw * register.scale + register.offset, register)
    if register.type.startswith("float"):
        return register_words(math.nan, register)
    return None


class ModbusPlayer:
    """The site's ``type: modbus`` devices as simulated slaves; an async context manager.

    One :class:`SlaveBus` per bus of the site file. ``serial_dir``: serial buses are served on a pty
    pair through a :class:`SerialRelay` (real serial timing, noise for CRC faults) and the gateway's
    end is linked as ``serial_dir/<bus id>``; every other bus, and every bus when ``serial_dir`` is
    None, is served with RTU framing over TCP on a free loopback port (``socket://127.0.0.1:<port>``).
    :attr:`endpoints` tells where each bus is, once entered.
    """

    def __init__(
        self,
        config: SiteConfig,
        *,
        serial_dir: Path | None = None,
        host: str = "127.0.0.1",
        devices: Iterable[str] | None = None,
    ) -> None:
        wanted = None if devices is None else set(devices)
        self.config = config
        self.serial_dir = serial_dir
        self.host = host
        self.slaves: dict[str, _Slave] = {
            d.id: _Slave(d, d.bus, dict(d.registers))
            for d in config.devices
            if isinstance(d, ModbusDeviceConfig) and (wanted is None or d.id in wanted)
        }
        self.units: dict[str, dict[int, Unit]] = {}
        for slave in self.slaves.values():
            unit = self.units.setdefault(slave.bus, {}).setdefault(slave.device.unit, Unit())
            for register in slave.registers.values():
                words = register_words(0.0, register) or [0]
                table = _table(unit, register)
                for i, word in enumerate(words):
                    table[register.address + i] = bool(word) if register.type == "bool" else word
        self.buses: dict[str, SlaveBus] = {}
        self.relays: dict[str, SerialRelay] = {}
        self.endpoints: dict[str, str] = {}
        self._faults: dict[str, str] = {}  # device -> fault in force
        self._stack = contextlib.AsyncExitStack()

    def handles(self, device: str) -> bool:
        return device in self.slaves

    async def __aenter__(self) -> ModbusPlayer:
        await self._stack.__aenter__()
        try:
            kinds = {b.id: b for b in self.config.buses}
            for bus_id, units in self.units.items():
                bus_config = kinds.get(bus_id)
                if self.serial_dir is not None and isinstance(bus_config, SerialBusConfig):
                    link = self.serial_dir / bus_id
                    with contextlib.suppress(FileNotFoundError):
                        link.unlink()
                    relay = SerialRelay(bus_config.baudrate, client_link=link, seed=len(self.relays))
                    relay.start()
                    self._stack.callback(relay.stop)
                    self.relays[bus_id] = relay
                    bus = SlaveBus(relay.device_port, units=units, baud=bus_config.baudrate)
                    self.endpoints[bus_id] = str(link)
                else:
                    bus = SlaveBus((self.host, 0), units=units)
                await self._stack.enter_async_context(bus)
                self.buses[bus_id] = bus
                self.endpoints.setdefault(bus_id, bus.url)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    def apply(self, frame: FrameLike) -> None:
        """Write a frame's values into its device's registers and put its fault in force (or not)."""
        slave = self.slaves.get(frame.device)
        if slave is None:
            return
        unit_id = slave.device.unit
        unit = self.units[slave.bus][unit_id]
        for quantity, value in (frame.values or {}).items():
            register = slave.registers.get(quantity)
            if register is None:
                continue
            words = _no_value_words(register) if value is None else register_words(value, register)
            if words is None:
                continue
            table = _table(unit, register)
            for i, word in enumerate(words):
                table[register.address + i] = bool(word) if register.type == "bool" else word
        self._set_fault(frame.device, slave, frame.fault)

    def _set_fault(self, device: str, slave: _Slave, fault: str | None) -> None:
        if self._faults.get(device) == fault:
            return
        bus = self.buses.get(slave.bus)
        if bus is None:  # not entered: nothing is served yet
            return
        unit = slave.device.unit
        before = self._faults.pop(device, None)
        bus.restore(unit)
        if before in GARBLED_FAULTS:
            self._line_noise(slave.bus, bus, unit, on=False)
        if fault is None:
            return
        self._faults[device] = fault
        if fault in SILENT_FAULTS:
            bus.silence(unit)
        elif fault in GARBLED_FAULTS:
            self._line_noise(slave.bus, bus, unit, on=True)
        else:
            log.warning("device %s: fault %r has no Modbus meaning; ignored", device, fault)

    def _line_noise(self, bus_id: str, bus: SlaveBus, unit: int, *, on: bool) -> None:
        relay = self.relays.get(bus_id)
        if relay is not None:
            # Noise is a property of the line: on while any device of the bus has a CRC fault.
            noisy = any(f in GARBLED_FAULTS and self.slaves[d].bus == bus_id for d, f in self._faults.items())
            relay.noise = CRC_LINE_NOISE if noisy else 0.0
            return
        noise = getattr(bus, "noise", None)
        if callable(noise):
            if on:
                noise(unit)
            return
        if on:
            bus.fail(unit)


_TABLES: dict[str, Table] = {"holding": "holding", "input": "input", "coil": "coils", "discrete": "discrete"}


def _table(unit: Unit, register: RegisterConfig) -> dict[int, Any]:
    return unit.table(_TABLES[register.function])


# Playing


@dataclass(slots=True)
class PlayStats:
    frames: int = 0
    mqtt: PublishStats = field(default_factory=PublishStats)
    modbus_frames: int = 0
    unrouted: int = 0  # frames of devices no player serves
    last_t_s: float | None = None
    wall_s: float = 0.0


async def play(
    frames: Iterable[FrameLike],
    *,
    speed: float,
    mqtt: MqttPlayer | None = None,
    modbus: ModbusPlayer | None = None,
    progress: Callable[[FrameLike], None] | None = None,
) -> PlayStats:
    """Hand every frame to its player at its time (see :class:`Pacer`); waits for the last acks."""
    pacer = Pacer(speed)
    stats = PlayStats()
    started = time.monotonic()
    unrouted: set[str] = set()
    for frame in frames:
        await pacer.wait(frame.t_s)
        stats.frames += 1
        stats.last_t_s = frame.t_s
        if mqtt is not None and mqtt.handles(frame.device):
            await mqtt.send(frame)
        elif modbus is not None and modbus.handles(frame.device):
            modbus.apply(frame)
            stats.modbus_frames += 1
        else:
            stats.unrouted += 1
            if frame.device not in unrouted:
                unrouted.add(frame.device)
                log.warning(
                    "device %s: no MQTT topic or Modbus slave for it; its frames are dropped", frame.device
                )
        if progress is not None:
            progress(frame)
        if pacer.fast and stats.frames % 256 == 0:
            await asyncio.sleep(0)  # let the acks and the rest of the process run
    if mqtt is not None:
        await mqtt.flush()
        stats.mqtt = mqtt.stats
    stats.wall_s = time.monotonic() - started
    return stats


@contextlib.asynccontextmanager
async def players(
    config: SiteConfig,
    *,
    start_ts: float,
    mqtt_url: str | None = None,
    serial_dir: Path | None = None,
    max_inflight: int = DEFAULT_INFLIGHT,
    identifier: str = "smartsite-simulator",
) -> AsyncIterator[tuple[MqttPlayer | None, ModbusPlayer | None]]:
    """The players a site needs: MQTT for its MQTT devices (to ``mqtt_url``, default the site's
    broker), Modbus slaves for its Modbus devices. Either is None when the site has no such device."""
    topics = mqtt_topics(config)
    async with contextlib.AsyncExitStack() as stack:
        mqtt_player: MqttPlayer | None = None
        modbus_player: ModbusPlayer | None = None
        if topics:
            broker = BrokerAddress.from_url(mqtt_url or config.mqtt.url)
            mqtt_player = MqttPlayer(
                broker, topics, start_ts=start_ts, max_inflight=max_inflight, identifier=identifier
            )
            await stack.enter_async_context(mqtt_player)
        if any(isinstance(d, ModbusDeviceConfig) for d in config.devices):
            modbus_player = ModbusPlayer(config, serial_dir=serial_dir)
            await stack.enter_async_context(modbus_player)
        yield mqtt_player, modbus_player


async def simulate(
    config: SiteConfig,
    frames: Iterable[FrameLike],
    *,
    speed: float = 1.0,
    mqtt_url: str | None = None,
    serial_dir: Path | None = None,
    start_ts: float | None = None,
    announce: Callable[[str], None] = print,
) -> PlayStats:
    """The site's devices alone, playing ``frames`` for a gateway elsewhere (``smartsite simulate``).

    MQTT devices publish to ``mqtt_url`` (default the site file's broker); Modbus devices are slaves
    on the pty links ``serial_dir/<bus id>`` for serial buses when ``serial_dir`` (an existing folder)
    is given, else on
    RTU-over-TCP ports; ``announce`` is told where each one is before the first frame. Data times
    start at ``start_ts`` (default now), so at speed 1 they follow the wall clock.
    """
    if start_ts is None:
        start_ts = time.time()
    async with players(config, start_ts=start_ts, mqtt_url=mqtt_url, serial_dir=serial_dir) as (
        mqtt_player,
        modbus_player,
    ):
        if mqtt_player is not None:
            announce(
                f"mqtt: {len(mqtt_player.topics)} devices publishing to {mqtt_player.broker.describe()} "
                f"on {config.topic_prefix}/devices/<device>/up"
            )
            vendor = [d.id for d in config.devices if isinstance(d, MqttDeviceConfig) and d.payload]
            if vendor:
                announce(f"note: {', '.join(vendor)} send the contract's payload, not their own layout")
        if modbus_player is not None:
            for bus_id, endpoint in modbus_player.endpoints.items():
                units = ", ".join(
                    f"{s.device.id}@{s.device.unit}" for s in modbus_player.slaves.values() if s.bus == bus_id
                )
                kind = "pty" if bus_id in modbus_player.relays else "RTU over TCP"
                announce(f"modbus bus {bus_id}: {endpoint} ({kind}; {units})")
            if not math.isinf(speed) and speed != 1.0:
                announce(
                    f"note: Modbus readings are stamped by the gateway's clock; speed {speed:g} is not 1"
                )
        announce(f"playing at speed {speed:g}; data time starts at {start_ts:.3f}")
        return await play(frames, speed=speed, mqtt=mqtt_player, modbus=modbus_player)


__all__ = [
    "GARBLED_FAULTS",
    "SILENT_FAULTS",
    "BrokerAddress",
    "FrameLike",
    "ModbusPlayer",
    "MqttPlayer",
    "Pacer",
    "PlayStats",
    "PublishStats",
    "batch_layout",
    "mqtt_payload",
    "mqtt_topics",
    "payload_values",
    "play",
    "players",
    "register_words",
    "simulate",
]
