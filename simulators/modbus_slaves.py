"""Simulated Modbus RTU slaves: several unit ids on one link, served by pymodbus's server.

One :class:`SlaveBus` is one RS-485 line seen from the devices' side: every configured unit answers
its own id, with register values that may change with time (a function of the seconds since the
bus started). It can be run over a serial port (a pty path, e.g. :attr:`SerialRelay.device_port`)
or over TCP with RTU framing (what a 4G DTU does; clients connect to ``socket://host:port``).

Faults, switchable while running:

* :meth:`SlaveBus.silence` — the unit stops answering at all, like a dead device on a real bus.
  pymodbus 3.16 answers exception 4 for an unknown id (a ``KeyError`` in its ``SimCore``), so the
  bus keeps its own table of units and raises ``NoSuchIdException`` with
  ``ignore_missing_devices=True``: pymodbus then sends nothing. Ids that were never configured are
  silent the same way.
* :meth:`SlaveBus.fail` — the unit answers every request with an exception code.
* ``turnaround`` — seconds the device takes to answer, after the 3.5-character silence that ends
  the request (counted when ``baud`` is given). Set per bus or per unit, also while running.

With ``baud`` given, a serial slave also resynchronises as a real one does: bytes that follow a
silence start a new frame, so the garbage left by line noise never swallows the next request.

Use::

    units = {1: Unit().put("holding", 0, lambda t: 5.0 + math.sin(t), "uint16", scale=0.1)}
    async with SlaveBus(relay.device_port, units=units, baud=9600, turnaround=0.005) as bus:
        ...                      # a client on relay.client_port reads unit 1
        bus.silence(1)           # unit 1 goes quiet; bus.restore(1) brings it back

    async with SlaveBus(("127.0.0.1", 0), units=units) as bus:
        client = AsyncModbusSerialClient(bus.url, ...)   # bus.url == "socket://127.0.0.1:<port>"
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pymodbus import ExceptionResponse, FramerType
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import SimData, SimDevice
from pymodbus.simulator.simcore import SimCore

log = logging.getLogger(__name__)

Signal = Callable[[float], float]
RegisterValue = int | Callable[[float], int]
BitValue = bool | Callable[[float], bool]
Table = Literal["holding", "input", "coils", "discrete"]
DType = Literal["int16", "uint16", "int32", "uint32", "float32", "float64"]
Order = Literal["big", "little"]

# Function codes to the table they address (reads and writes).
FUNCTION_TABLE: dict[int, Table] = {
    1: "coils",
    5: "coils",
    15: "coils",
    2: "discrete",
    3: "holding",
    6: "holding",
    16: "holding",
    22: "holding",
    23: "holding",
    4: "input",
}

_FORMATS: dict[str, tuple[str, int, float, float]] = {
    # struct format, registers, min, max
    "int16": (">h", 1, -32768, 32767),
    "uint16": (">H", 1, 0, 65535),
    "int32": (">i", 2, -(2**31), 2**31 - 1),
    "uint32": (">I", 2, 0, 2**32 - 1),
    "float32": (">f", 2, -math.inf, math.inf),
    "float64": (">d", 4, -math.inf, math.inf),
}

CHAR_BITS = 10  # 8N1
GAP_CHARS = 3.5  # the silence that ends an RTU frame
# A partial frame is dropped after this much silence at least, so that a scheduling hiccup of the
# simulator's own threads (GIL hand-overs, a loaded machine) is not taken for the end of a frame.
MIN_RESYNC_S = 0.05


def registers_for(dtype: DType) -> int:
    return _FORMATS[dtype][1]


def encode(
    value: float,
    dtype: DType = "uint16",
    *,
    scale: float = 1.0,
    offset: float = 0.0,
    word_order: Order = "big",
    byte_order: Order = "big",
) -> list[int]:
    """Register words for an engineering value (``value = raw * scale + offset``).

    Integers are rounded and saturate at the type's range, as a transmitter's output does. ``big``
    word order puts the most significant word first; ``little`` byte order swaps the bytes inside
    each word.
    """
    fmt, _, low, high = _FORMATS[dtype]
    raw = (value - offset) / scale
    packed = struct.pack(fmt, raw if dtype.startswith("float") else int(min(high, max(low, round(raw)))))
    out = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, len(packed), 2)]
    if byte_order == "little":
        out = [((w & 0xFF) << 8) | (w >> 8) for w in out]
    if word_order == "little":
        out.reverse()
    return out


@dataclass
class Unit:
    """One simulated device: its register tables and, optionally, its own turnaround.

    Each table maps an address to a raw value (a 16-bit word, or a bit) or to a function of the
    seconds since the bus started. :meth:`put` stores an engineering signal of any type over as many
    registers as the type needs. Writes from a client replace the stored value.
    """

    holding: dict[int, RegisterValue] = field(default_factory=dict)
    input: dict[int, RegisterValue] = field(default_factory=dict)
    coils: dict[int, BitValue] = field(default_factory=dict)
    discrete: dict[int, BitValue] = field(default_factory=dict)
    turnaround: float | None = None  # seconds; None: the bus's

    def put(
        self,
        table: Literal["holding", "input"],
        address: int,
        value: float | Signal,
        dtype: DType = "uint16",
        *,
        scale: float = 1.0,
        offset: float = 0.0,
        word_order: Order = "big",
        byte_order: Order = "big",
    ) -> Unit:
        """Store a value or signal at ``address`` (and the following registers for wide types)."""
        signal: Signal = value if callable(value) else _constant(float(value))
        words = registers_for(dtype)
        target = self.holding if table == "holding" else self.input

        def word(i: int) -> Callable[[float], int]:
            def at(t: float) -> int:
                return encode(
                    signal(t), dtype, scale=scale, offset=offset, word_order=word_order, byte_order=byte_order
                )[i]

            return at

        for i in range(words):
            target[address + i] = word(i)
        return self

    def table(self, name: Table) -> dict[int, Any]:
        tables: dict[str, dict[int, Any]] = {
            "holding": self.holding,
            "input": self.input,
            "coils": self.coils,
            "discrete": self.discrete,
        }
        return tables[name]

    @staticmethod
    def counting(count: int, start: int = 0, period_s: float = 60.0) -> Unit:
        """``count`` holding and input registers from ``start``, each a slow saw-tooth (bench use)."""
        unit = Unit()
        for i in range(count):
            saw = _saw(i, period_s)
            unit.holding[start + i] = saw
            unit.input[start + i] = saw
        return unit


def _constant(value: float) -> Signal:
    return lambda _t: value


def _saw(i: int, period_s: float) -> Callable[[float], int]:
    return lambda t: (i * 1000 + int(1000 * (t % period_s) / period_s)) & 0xFFFF


@dataclass(slots=True)
class UnitStats:
    requests: int = 0  # well-formed requests addressed to the unit
    answered: int = 0  # normal responses
    exceptions: int = 0  # exception responses
    ignored: int = 0  # requests left unanswered (silenced unit)


class _BusCore(SimCore):
    """The server's datastore: the bus's own unit table instead of pymodbus's ``SimCore`` lookup."""

    def __init__(self, bus: SlaveBus) -> None:
        super().__init__(SimDevice(0, simdata=SimData(0, values=0)))
        self._bus = bus

    def device_ids(self) -> list[int]:
        return sorted(self._bus.units)

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        return await self._bus._read(device_id, func_code, address, count)

    async def async_setValues(
        self, device_id: int, func_code: int, address: int, values: list[int] | list[bool]
    ) -> ExcCodes | None:
        return await self._bus._write(device_id, func_code, address, values)


class _ResyncHandler(ServerRequestHandler):
    """A slave's receiver: bytes after a silence start a new frame, as on a real RTU line.

    pymodbus's framer keeps a garbled partial frame (say a flipped byte-count) and waits for the
    bytes it promises, so the next good request is swallowed with it. A real slave drops whatever
    it has when the line falls silent for 3.5 characters.
    """

    resync_s = math.inf
    _last_rx = 0.0

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if self.recv_buffer and now - self._last_rx > self.resync_s:
            self.recv_buffer = b""
        self._last_rx = now
        super().data_received(data)


class _SerialServer(ModbusSerialServer):
    resync_s = math.inf

    def callback_new_connection(self) -> ServerRequestHandler:
        handler = _ResyncHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)
        handler.resync_s = self.resync_s
        return handler


class SlaveBus:
    """Simulated slaves on one link (see the module docstring). An async context manager.

    ``link``: a serial port path (or pyserial URL) to serve on, or ``(host, port)`` /
    ``"tcp://host:port"`` / ``"socket://host:port"`` for RTU framing over TCP (port 0 picks a free
    one; read :attr:`url` after entering). ``units`` maps unit ids to :class:`Unit` (a plain mapping
    of address to value is taken as holding registers). ``baud`` (serial timing) adds the
    3.5-character end-of-frame silence before each answer; ``turnaround`` adds the device's own
    delay. ``silent`` and ``failing`` start units in those fault states.
    """

    def __init__(
        self,
        link: str | tuple[str, int],
        units: Mapping[int, Unit | Mapping[int, RegisterValue]],
        *,
        baud: int | None = None,
        turnaround: float = 0.0,
        silent: Iterable[int] = (),
        failing: Mapping[int, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.units: dict[int, Unit] = {
            uid: u if isinstance(u, Unit) else Unit(holding=dict(u)) for uid, u in units.items()
        }
        for uid in self.units:
            if not 1 <= uid <= 247:
                raise ValueError(f"unit id {uid} outside 1..247")
        self.link = link
        self.baud = baud
        self.turnaround = turnaround
        self.gap_s = GAP_CHARS * CHAR_BITS / baud if baud else 0.0
        self._silent: set[int] = set(silent)
        self._failing: dict[int, int] = dict(failing or {})
        self._clock = clock
        self._t0 = clock()
        self._arrived: dict[int, float] = {}
        self.stats: dict[int, UnitStats] = {uid: UnitStats() for uid in self.units}
        self._server: Any = None
        self.url = ""

    # faults

    def silence(self, unit: int) -> None:
        """The unit stops answering (no response at all, like a dead device)."""
        self._silent.add(unit)

    def fail(self, unit: int, code: int = ExcCodes.DEVICE_FAILURE) -> None:
        """The unit answers every request with exception ``code``."""
        self._failing[unit] = int(code)

    def restore(self, unit: int) -> None:
        """Undo :meth:`silence` and :meth:`fail`."""
        self._silent.discard(unit)
        self._failing.pop(unit, None)

    def set_turnaround(self, seconds: float, unit: int | None = None) -> None:
        if unit is None:
            self.turnaround = seconds
        else:
            self.units[unit].turnaround = seconds

    def elapsed(self) -> float:
        """Seconds since the bus started: the ``t`` the signals are evaluated at."""
        return self._clock() - self._t0

    # lifecycle

    async def __aenter__(self) -> SlaveBus:
        tcp = _tcp_address(self.link)
        if tcp is not None:
            server: Any = ModbusTcpServer(
                SimDevice(0, simdata=SimData(0, values=0)),
                framer=FramerType.RTU,
                address=tcp,
                ignore_missing_devices=True,
                trace_pdu=self._trace_pdu,
            )
        else:
            assert isinstance(self.link, str)
            server = _SerialServer(
                SimDevice(0, simdata=SimData(0, values=0)),
                framer=FramerType.RTU,
                port=self.link,
                baudrate=self.baud or 9600,
                ignore_missing_devices=True,
                trace_pdu=self._trace_pdu,
            )
            if self.gap_s:
                server.resync_s = max(self.gap_s, MIN_RESYNC_S)
        server.context = _BusCore(self)
        await server.serve_forever(background=True)
        self._server = server
        if tcp is not None:
            host, port = server.transport.sockets[0].getsockname()[:2]
            self.url = f"socket://{host}:{port}"
        else:
            self.url = str(self.link)
        self._t0 = self._clock()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()
            await asyncio.sleep(0)  # let the transport's close callbacks run

    # serving

    def _trace_pdu(self, sending: bool, pdu: Any) -> Any:
        stats = self.stats.get(pdu.dev_id)
        if not sending:
            self._arrived[pdu.dev_id] = time.monotonic()
            if stats is not None:
                stats.requests += 1
        elif stats is not None:
            if isinstance(pdu, ExceptionResponse):
                stats.exceptions += 1
            else:
                stats.answered += 1
        return pdu

    async def _gate(self, device_id: int) -> Unit:
        """The unit to serve, after its answer delay; raises for a silent or unknown unit."""
        unit = self.units.get(device_id)
        if unit is None or device_id in self._silent:
            if unit is not None:
                self.stats[device_id].ignored += 1
            raise NoSuchIdException(f"unit {device_id} is silent")
        delay = self.gap_s + (unit.turnaround if unit.turnaround is not None else self.turnaround)
        wait = self._arrived.get(device_id, time.monotonic()) + delay - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        return unit

    async def _read(
        self, device_id: int, func_code: int, address: int, count: int
    ) -> list[int] | list[bool] | ExcCodes:
        unit = await self._gate(device_id)
        if device_id in self._failing:
            return ExcCodes(self._failing[device_id])
        table_name = FUNCTION_TABLE.get(func_code)
        if table_name is None:
            return ExcCodes.ILLEGAL_FUNCTION
        table = unit.table(table_name)
        t = self.elapsed()
        values: list[Any] = []
        for a in range(address, address + count):
            if a not in table:
                return ExcCodes.ILLEGAL_ADDRESS
            v = table[a]
            v = v(t) if callable(v) else v
            values.append(bool(v) if table_name in ("coils", "discrete") else int(v) & 0xFFFF)
        return values

    async def _write(
        self, device_id: int, func_code: int, address: int, values: list[int] | list[bool]
    ) -> ExcCodes | None:
        unit = await self._gate(device_id)
        if device_id in self._failing:
            return ExcCodes(self._failing[device_id])
        table_name = FUNCTION_TABLE.get(func_code)
        if table_name not in ("holding", "coils"):
            return ExcCodes.ILLEGAL_FUNCTION
        table = unit.table(table_name)
        if any(a not in table for a in range(address, address + len(values))):
            return ExcCodes.ILLEGAL_ADDRESS
        for i, v in enumerate(values):
            table[address + i] = bool(v) if table_name == "coils" else int(v) & 0xFFFF
        return None


def _tcp_address(link: str | tuple[str, int]) -> tuple[str, int] | None:
    if isinstance(link, tuple):
        return link
    for scheme in ("tcp://", "socket://"):
        if link.startswith(scheme):
            host, _, port = link[len(scheme) :].rpartition(":")
            return host or "127.0.0.1", int(port)
    return None


__all__ = ["FUNCTION_TABLE", "SlaveBus", "Unit", "UnitStats", "encode", "registers_for"]
