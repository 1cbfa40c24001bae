"""Test slaves: real pymodbus servers on a socket:// port or a socat pseudo-terminal pair.

pymodbus answers a missing slave id with exception 4, so a removed slave is silenced here: the
server's outgoing frames for it are dropped (``trace_packet`` returns no bytes). Exceptions and line
noise are injected the same way, on the server's side of the line.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import time
from pathlib import Path

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.modbus import RegisterSpec, encode_value
from tests.support import stop_process

SOCAT = shutil.which("socat") or "/usr/bin/socat"

# The map every test slave serves, and the raw value slave ``unit`` holds for each register.
MAP = (
    RegisterSpec("wind_speed", 0, "holding", 0, "uint16", scale=0.1, no_value=(0xFFFF,)),
    RegisterSpec("tilt", 1, "holding", 2, "float32"),
    RegisterSpec("temp", 2, "holding", 6, "int16"),  # a hole of 2 registers: still one request
    RegisterSpec("count", 3, "input", 0, "uint32", word_order="little"),
    RegisterSpec("alarm", 4, "coil", 0, "bool"),
)


def raw_of(unit: int, quantity: str) -> float:
    return {
        "wind_speed": 100.0 * unit + 5,
        "tilt": unit + 0.5,
        "temp": -float(unit),
        "count": 70000.0 + unit,
        "alarm": float(unit % 2),
    }[quantity]


def expected(unit: int, quantity: str) -> float:
    spec = next(r for r in MAP if r.quantity == quantity)
    return raw_of(unit, quantity) * spec.scale + spec.offset


def _device(unit: int) -> SimDevice:
    holding = [0] * 10
    inputs = [0] * 4
    for spec in MAP:
        if spec.function == "coil":
            continue
        words = encode_value(raw_of(unit, spec.quantity), spec)
        block = holding if spec.function == "holding" else inputs
        block[spec.address : spec.address + len(words)] = words
    coils = [bool(raw_of(unit, "alarm"))] + [False] * 15
    return SimDevice(
        id=unit,
        simdata=(
            [SimData(0, values=coils, datatype=DataType.BITS)],
            [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
            [SimData(0, values=holding, datatype=DataType.REGISTERS)],
            [SimData(0, values=inputs, datatype=DataType.REGISTERS)],
        ),
    )


class Slaves:
    """Several slaves sharing one line; each can be silenced or made to answer exceptions."""

    def __init__(self, units: list[int], noise: float = 0.0, seed: int = 7) -> None:
        self.units = units
        self.silent: set[int] = set()
        self.refusing: set[int] = set()
        self.noise = noise
        self.corrupted = 0
        self.answered: dict[int, int] = dict.fromkeys(units, 0)
        self._rng = random.Random(seed)
        self._server: ModbusSerialServer | ModbusTcpServer | None = None

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if sending and data and data[0] in self.silent:
            return b""
        if sending and data:
            self.answered[data[0]] = self.answered.get(data[0], 0) + 1
        if self.noise and data and self._rng.random() < self.noise:
            flipped = bytearray(data)
            flipped[self._rng.randrange(len(data))] ^= 1 << self._rng.randrange(8)
            self.corrupted += 1
            return bytes(flipped)
        return data

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if sending and pdu.dev_id in self.refusing:
            refusal = ExceptionResponse(pdu.function_code, ExcCodes.DEVICE_BUSY)
            refusal.dev_id, refusal.transaction_id = pdu.dev_id, pdu.transaction_id
            return refusal
        return pdu

    async def start(self, port: str, framer: FramerType = FramerType.RTU) -> None:
        """Serve on a serial path, or on ``socket://127.0.0.1:N`` (RTU frames over TCP)."""
        devices = [_device(u) for u in self.units]
        self._server = ModbusSerialServer(
            devices,
            port=port,
            framer=framer,
            trace_packet=self._trace_packet,
            trace_pdu=self._trace_pdu,
        )
        await self._server.serve_forever(background=True)

    async def start_tcp(self, port: int) -> None:
        """Serve Modbus TCP (MBAP framing) on 127.0.0.1."""
        devices = [_device(u) for u in self.units]
        self._server = ModbusTcpServer(
            devices, address=("127.0.0.1", port), trace_packet=self._trace_packet, trace_pdu=self._trace_pdu
        )
        await self._server.serve_forever(background=True)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
            await asyncio.sleep(0)  # let the transports' close callbacks run


class PtyPair:
    """``socat`` joining two pseudo-terminals, reachable through the links ``a`` and ``b``."""

    def __init__(self, directory: Path) -> None:
        self.a = str(directory / "gateway-side")
        self.b = str(directory / "slave-side")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, deadline_s: float = 5.0) -> None:
        self._process = subprocess.Popen(
            [SOCAT, f"pty,raw,echo=0,link={self.a}", f"pty,raw,echo=0,link={self.b}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        end = time.monotonic() + deadline_s
        while not (Path(self.a).exists() and Path(self.b).exists()):
            if self._process.poll() is not None or time.monotonic() > end:
                self.stop()
                raise RuntimeError("socat did not create the pty links")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._process is None:
            return
        stop_process(self._process, timeout=5)
        self._process = None
        for link in (self.a, self.b):
            Path(link).unlink(missing_ok=True)
