"""One hub per Modbus bus: one client, one lock, slaves polled one at a time, each on its own period.

Faults never end the polling. A request that times out, comes back garbled (bad CRC), is answered
with a Modbus exception, or meets a closed port marks that device's readings ``BAD_COMM`` with NaN;
the reason is counted per device and the device is polled again at its next period. The port is
reopened with capped, jittered backoff. Each device and the bus log one line when they fail and one
when they are back (``OutageLog``).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from drivers.modbus.decode import decode_bit, decode_registers
from drivers.modbus.read_plan import ReadRequest, plan_requests
from drivers.modbus.spec import BIT_FUNCTIONS, BusSpec, DeviceSpec
from drivers.outage import Backoff, OutageLog
from gateway.vocab import Quality, ReadingBatch, SourceBatch

log = logging.getLogger(__name__)

# Kinds of failure counted per device.
TIMEOUT = "timeout"  # no answer at all
GARBLED = "crc"  # bytes came back but no valid frame (bad CRC, wrong slave, short answer)
EXCEPTION = "exception"  # the slave answered with a Modbus exception code
PORT = "port"  # the port is closed or gone
OTHER = "error"  # anything else the library raised

_DEFAULT_REOPEN_CAP_S = 5.0
# A slave that never answers must not make the library close a TCP link on its own.
_NEVER_DISCONNECT = 2**31


@dataclass(slots=True)
class DeviceCounters:
    """Per-device figures for metrics: polls, frames sent, good answers, failures by kind."""

    polls: int = 0
    requests: int = 0
    responses: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    last_good_ts: float | None = None
    last_error: str | None = None
    failing_since: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "polls": self.polls,
            "requests": self.requests,
            "responses": self.responses,
            "errors": dict(self.errors),
            "last_good_ts": self.last_good_ts,
            "last_error": self.last_error,
            "failing_since": self.failing_since,
        }


@dataclass(frozen=True, slots=True)
class _Failure:
    kind: str
    detail: str


@dataclass(slots=True)
class _Device:
    spec: DeviceSpec
    plan: list[ReadRequest]
    counters: DeviceCounters
    outage: OutageLog


class ModbusHub:
    """Readings of every slave on one bus.

    Use as ``async with hub: async for batch in hub.batches(): ...``; one batch per device poll, its
    readings stamped when their response completed. Devices are served in order of their next due
    time, so a slave that times out delays the others by at most its timeout and never shifts their
    periods. A device already known to be down gets one attempt per poll instead of its retries, so
    a dead slave costs the bus as little as possible. ``batches`` is never resumed after exit.
    """

    def __init__(
        self,
        bus: BusSpec,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
    ) -> None:
        if not bus.devices:
            raise ValueError(f"{bus.describe()}: no devices")
        self.bus = bus
        self.name = f"modbus:{bus.id}"
        self._clock = clock
        self._mono = monotonic
        self._gap = bus.gap_s()
        shortest = min(d.poll_s for d in bus.devices)
        cap = bus.reopen_cap_s if bus.reopen_cap_s is not None else min(_DEFAULT_REOPEN_CAP_S, shortest)
        self._backoff = backoff or Backoff(first=min(0.2, cap), cap=cap)
        self._devices = [
            _Device(
                spec=d,
                plan=plan_requests(d.registers, bus.max_registers_per_request, bus.max_gap_registers),
                counters=DeviceCounters(),
                outage=OutageLog(log, f"Modbus device {d.id} (unit {d.unit} on bus {bus.id})"),
            )
            for d in bus.devices
        ]
        self.stats: dict[str, DeviceCounters] = {d.spec.id: d.counters for d in self._devices}
        self.bus_outage = OutageLog(log, bus.describe())
        self.lock = asyncio.Lock()
        self._client: AsyncModbusSerialClient | AsyncModbusTcpClient | None = None
        self._client_timeout = max(3.0, max(d.timeout_s for d in bus.devices) + 1.0)
        self._quiet_until = 0.0
        self._received = 0  # frames' worth of bytes seen, to tell a garbled answer from none
        self.opens = 0
        # Poll periods as they are now (a weather warning may poll a device faster for a while).
        self._period = [d.poll_s for d in bus.devices]
        self._last_poll: list[float | None] = [None] * len(bus.devices)
        self._rescheduled = asyncio.Event()

    async def __aenter__(self) -> ModbusHub:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._close()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    def counters(self) -> dict[str, dict[str, Any]]:
        """Per-device counters as plain data (device id -> figures)."""
        return {device_id: c.as_dict() for device_id, c in self.stats.items()}

    def poll_periods(self) -> dict[str, float]:
        return {d.spec.id: self._period[i] for i, d in enumerate(self._devices)}

    def set_poll_period(self, device_id: str, poll_s: float | None) -> bool:
        """Poll ``device_id`` every ``poll_s`` from now on (None: its configured period again); a
        shorter period takes effect at once, not after the current one. False: not on this bus."""
        for i, d in enumerate(self._devices):
            if d.spec.id == device_id:
                period = d.spec.poll_s if poll_s is None else poll_s
                if not period > 0:
                    raise ValueError(f"poll period must be positive, not {poll_s!r}")
                if period != self._period[i]:
                    self._period[i] = period
                    self._rescheduled.set()
                return True
        return False

    def plans(self) -> dict[str, list[ReadRequest]]:
        """The read requests each device costs per poll."""
        return {d.spec.id: list(d.plan) for d in self._devices}

    async def batches(self) -> AsyncIterator[SourceBatch]:
        start = self._mono()
        # Ordered by due time; at equal times a device known to be down goes last, so its timeouts
        # delay the others as little as possible.
        queue = [(start, False, i, i) for i in range(len(self._devices))]
        heapq.heapify(queue)
        seq = len(queue)
        reopen_at = start
        while True:
            if self._rescheduled.is_set():
                self._rescheduled.clear()
                queue = [
                    (_due(d, self._last_poll[i], self._period[i]), down, n, i) for d, down, n, i in queue
                ]
                heapq.heapify(queue)
            due, _, _, index = queue[0]
            now = self._mono()
            if not self.connected and reopen_at <= now:
                if await self._open():
                    self._backoff.reset()
                else:
                    reopen_at = self._mono() + self._backoff.next_delay()
                now = self._mono()
            wake = due if self.connected else min(due, reopen_at)
            if wake > now:
                with contextlib.suppress(TimeoutError):  # woken early by a new poll period
                    await asyncio.wait_for(self._rescheduled.wait(), wake - now)
                continue
            if due > now:
                continue
            heapq.heappop(queue)
            device = self._devices[index]
            was_connected = self.connected
            async with self.lock:
                batch = await self._poll(device)
            period = self._period[index]
            self._last_poll[index] = due
            after = self._mono()
            # Keep the phase; a poll that overran skips the slots it missed instead of bursting.
            missed = max(0, math.floor((after - due) / period))
            heapq.heappush(queue, (due + (missed + 1) * period, device.outage.down, seq, index))
            seq += 1
            if was_connected and not self.connected:
                # Lost during this poll: the first reopen is immediate, then the backoff applies.
                self._backoff.reset()
                reopen_at = after
            yield SourceBatch(batch)

    async def _open(self) -> bool:
        self._close()
        bus = self.bus
        client: AsyncModbusSerialClient | AsyncModbusTcpClient
        common: dict[str, Any] = {
            "timeout": self._client_timeout,
            "retries": 0,
            "reconnect_delay": 0,  # reopening is ours: backoff, logging, counting
            "name": bus.id,
        }
        try:
            if bus.kind == "serial":
                client = AsyncModbusSerialClient(
                    bus.port,
                    framer=FramerType.RTU,
                    baudrate=bus.baudrate,
                    bytesize=bus.bytesize,
                    parity=bus.parity,
                    stopbits=bus.stopbits,
                    trace_packet=self._trace,
                    **common,
                )
            else:
                framer = FramerType.SOCKET if bus.kind == "tcp" else FramerType.RTU
                client = AsyncModbusTcpClient(
                    bus.host, port=bus.tcp_port, framer=framer, trace_packet=self._trace, **common
                )
            client.set_max_no_responses(_NEVER_DISCONNECT)
            ok = await client.connect()
        except Exception as exc:  # a bad URL or a driver error must not end polling
            self.bus_outage.failed(f"cannot open: {exc or type(exc).__name__}")
            return False
        if not ok:
            client.close()
            self.bus_outage.failed(self._why_not_open())
            return False
        self._client = client
        self.opens += 1
        self._quiet_until = 0.0
        self.bus_outage.recovered()
        return True

    def _why_not_open(self) -> str:
        bus = self.bus
        if bus.kind == "serial" and "://" not in bus.port and not os.path.exists(bus.port):
            return f"port {bus.port} not found"
        if bus.kind == "serial":
            return f"cannot open {bus.port}"
        return f"cannot connect to {bus.host}:{bus.tcp_port}"

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._received += 1
        return data

    async def _poll(self, device: _Device) -> ReadingBatch:
        spec, counters = device.spec, device.counters
        counters.polls += 1
        ts: list[float] = []
        channel: list[int] = []
        value: list[float] = []
        quality: list[int] = []
        failure: _Failure | None = None
        broken: _Failure | None = None  # a failure that makes the rest of this poll pointless
        attempts = 1 if device.outage.down else spec.retries + 1
        for request in device.plan:
            result = broken or await self._read(device, request, attempts)
            if isinstance(result, _Failure):
                failure = failure or result
                if result.kind != EXCEPTION:
                    broken = result
                stamp = self._clock()
                for register in request.registers:
                    ts.append(stamp)
                    channel.append(register.column)
                    value.append(math.nan)
                    quality.append(Quality.BAD_COMM)
                continue
            stamp, data = result
            for register in request.registers:
                at = register.address - request.address
                if request.function in BIT_FUNCTIONS:
                    number, flags = decode_bit(bool(data[at]), register)
                else:
                    number, flags = decode_registers(data[at : at + register.count], register)
                ts.append(stamp)
                channel.append(register.column)
                value.append(number)
                quality.append(flags)
        if failure is None:
            counters.last_good_ts = ts[-1] if ts else self._clock()
            counters.failing_since = None
            device.outage.recovered()
        else:
            counters.last_error = f"{failure.kind}: {failure.detail}"
            if counters.failing_since is None:
                counters.failing_since = self._clock()
            device.outage.failed(f"{failure.kind}: {failure.detail}")
        return ReadingBatch.from_lists(ts, channel, value, quality)

    async def _read(
        self, device: _Device, request: ReadRequest, attempts: int
    ) -> tuple[float, Sequence[int] | Sequence[bool]] | _Failure:
        counters = device.counters
        failure = _Failure(OTHER, "no attempt")
        for _ in range(attempts):
            client = self._client
            if client is None or not client.connected:
                counters.errors[PORT] += 1
                if client is not None:
                    self._close()
                    self.bus_outage.failed("port closed")
                return _Failure(PORT, "port closed")
            wait = self._quiet_until - self._mono()
            if wait > 0:
                await asyncio.sleep(wait)
            counters.requests += 1
            received = self._received
            try:
                async with asyncio.timeout(device.spec.timeout_s):
                    response = await _call(client, request, device.spec.unit)
                stamp = self._clock()  # the response is complete now: this is the reading's time
            except (TimeoutError, ModbusIOException):
                if not client.connected:
                    failure = _Failure(PORT, "port lost")
                elif self._received != received:
                    failure = _Failure(GARBLED, "no valid answer (bad frame or CRC)")
                else:
                    failure = _Failure(TIMEOUT, f"no answer within {device.spec.timeout_s:g} s")
            except (ConnectionException, OSError) as exc:
                failure = _Failure(PORT, str(exc) or type(exc).__name__)
            except (ModbusException, ValueError, KeyError, AttributeError) as exc:
                # Whatever else the library raises costs this read, never the polling loop.
                failure = _Failure(OTHER, f"{type(exc).__name__}: {exc}")
            else:
                self._quiet_until = self._mono() + self._gap
                if response.isError():
                    code = getattr(response, "exception_code", None)
                    counters.errors[EXCEPTION] += 1
                    return _Failure(EXCEPTION, f"exception code {code} for {_describe(request)}")
                data = response.bits if request.function in BIT_FUNCTIONS else response.registers
                if len(data) < request.count:
                    failure = _Failure(GARBLED, f"short answer to {_describe(request)}")
                    counters.errors[GARBLED] += 1
                    continue
                counters.responses += 1
                return stamp, data
            self._quiet_until = self._mono() + self._gap
            counters.errors[failure.kind] += 1
            if failure.kind == PORT:
                self._close()
                self.bus_outage.failed(failure.detail)
                return failure
        return failure


async def _call(
    client: AsyncModbusSerialClient | AsyncModbusTcpClient, request: ReadRequest, unit: int
) -> Any:
    address, count = request.address, request.count
    if request.function == "holding":
        return await client.read_holding_registers(address, count=count, device_id=unit)
    if request.function == "input":
        return await client.read_input_registers(address, count=count, device_id=unit)
    if request.function == "coil":
        return await client.read_coils(address, count=count, device_id=unit)
    return await client.read_discrete_inputs(address, count=count, device_id=unit)


def _describe(request: ReadRequest) -> str:
    return f"{request.function} {request.address}+{request.count}"


def _due(due: float, last_poll: float | None, period: float) -> float:
    """A device's next poll after its period changed: no later than one new period after its last."""
    return due if last_poll is None else min(due, last_poll + period)
