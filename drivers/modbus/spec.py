"""What a Modbus hub needs to know, as plain values (the gateway builds these from its config)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Function = Literal["holding", "input", "coil", "discrete"]
DataType = Literal["int16", "uint16", "int32", "uint32", "float32", "float64", "bool"]
Order = Literal["big", "little"]
BusKind = Literal["serial", "tcp", "rtu_over_tcp"]

# Registers (16-bit words) a value of each type takes; a bool takes one register or one bit.
REGISTER_COUNT: dict[str, int] = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
    "float64": 4,
    "bool": 1,
}
BIT_FUNCTIONS = frozenset({"coil", "discrete"})


@dataclass(frozen=True, slots=True)
class RegisterSpec:
    """One value of a device: where it is on the wire, how to decode it, and its column."""

    quantity: str
    column: int
    function: Function
    address: int
    type: DataType = "uint16"
    word_order: Order = "big"
    byte_order: Order = "big"
    scale: float = 1.0
    offset: float = 0.0
    no_value: tuple[float, ...] = ()

    @property
    def count(self) -> int:
        """Registers (or bits, for coils and discrete inputs) the value occupies."""
        return 1 if self.function in BIT_FUNCTIONS else REGISTER_COUNT[self.type]

    @property
    def end(self) -> int:
        return self.address + self.count


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One slave on a bus and its poll schedule."""

    id: str
    unit: int
    registers: tuple[RegisterSpec, ...]
    poll_s: float = 1.0
    timeout_s: float = 0.5
    retries: int = 1


@dataclass(frozen=True, slots=True)
class BusSpec:
    """One physical (or tunnelled) RS-485 bus: how to open it and how to pace it.

    ``port`` is a device path or a pyserial URL (``socket://``, ``rfc2217://``) for ``serial``;
    ``host`` and ``tcp_port`` are for ``tcp`` (Modbus TCP framing) and ``rtu_over_tcp`` (RTU frames
    through a TCP socket, as 4G DTUs do).
    """

    id: str
    kind: BusKind = "serial"
    port: str = ""
    host: str = ""
    tcp_port: int = 502
    baudrate: int = 9600
    bytesize: int = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: int = 1
    frame_gap_s: float | None = None  # None: 3.5 character times (serial framing), 0 for Modbus TCP
    max_registers_per_request: int = 60
    max_gap_registers: int = 4
    reopen_cap_s: float | None = None  # None: the shortest poll period, at most 5 s
    devices: tuple[DeviceSpec, ...] = field(default_factory=tuple)

    def char_time_s(self) -> float:
        bits = 1 + self.bytesize + (0 if self.parity == "N" else 1) + self.stopbits
        return bits / self.baudrate

    def gap_s(self) -> float:
        """The silence kept between two frames on this bus."""
        if self.frame_gap_s is not None:
            return self.frame_gap_s
        if self.kind == "tcp":
            return 0.0
        # The Modbus serial line spec fixes 1.75 ms above 19200 baud.
        return 0.00175 if self.baudrate > 19200 else 3.5 * self.char_time_s()

    def describe(self) -> str:
        where = self.port if self.kind == "serial" else f"{self.host}:{self.tcp_port}"
        return f"Modbus bus {self.id} ({self.kind} {where})"
