"""Modbus in the site file: buses (``buses:``) and ``type: modbus`` devices with register maps.

A device names its bus, its slave id (``unit``) and its registers; each register's quantity is a
channel of the device (``<device>.<quantity>``). ``profile:`` fills the device from a preset of
``gateway.config.profiles``. Checks across fields (overlaps, count against type, timeouts, units on a
bus, ports) are in ``gateway.config.meaning_modbus``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from drivers.modbus.spec import BIT_FUNCTIONS, DataType, Function, Order
from gateway.config.channel_model import ChannelConfig
from gateway.config.profiles import PROFILES, apply_profile, unknown_profile
from gateway.config.site_plan import PlanXY
from gateway.config.strict import DEVICE_ID_PATTERN, ID_PATTERN, Finite, Strict

RegisterFunction = Function
RegisterType = DataType  # the types the hub decodes (drivers.modbus.spec), one table
INTEGER_TYPES = ("int16", "uint16", "int32", "uint32")
ByteOrder = Order


class RegisterConfig(Strict):
    """One value on the wire: where it is, how it is encoded, what it means."""

    function: RegisterFunction = "holding"
    address: Annotated[int, Field(ge=0, le=65535)]
    type: RegisterType = Field(default="uint16", description="default: bool for coil and discrete")
    count: Annotated[int, Field(ge=1, le=125)] | None = Field(
        default=None, description="registers the value takes; optional, checked against type"
    )
    word_order: ByteOrder = Field(default="big", description="big: most significant word first")
    byte_order: ByteOrder = Field(default="big", description="big: high byte first in each word")
    scale: Finite = 1.0
    offset: Finite = 0.0
    unit: str = ""
    range: tuple[Finite, Finite] | None = Field(
        default=None, description="physical range [low, high]; readings outside are flagged bad"
    )
    no_value: Finite | list[Finite] | None = Field(
        default=None, description="raw value(s) the device sends when it has no reading"
    )
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _bits_are_bool(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("function") in BIT_FUNCTIONS and "type" not in data:
            return {**data, "type": "bool"}
        return data

    @property
    def resolution(self) -> float | None:
        """An integer register resolves one count: its scale (a float or bit resolves finer)."""
        return abs(self.scale) if self.type in INTEGER_TYPES and self.scale != 0 else None

    @property
    def no_values(self) -> tuple[float, ...]:
        if self.no_value is None:
            return ()
        if isinstance(self.no_value, list):
            return tuple(self.no_value)
        return (self.no_value,)


class ModbusDeviceConfig(Strict):
    """A slave on a Modbus bus, polled by the gateway."""

    type: Literal["modbus"]
    id: Annotated[str, Field(pattern=DEVICE_ID_PATTERN, max_length=128)]
    name: str = ""
    position: str = ""
    plan_xy: PlanXY | None = Field(default=None, description="place on site.plan: [x, y] fractions")
    bus: str = Field(description="id of a bus in buses:")
    unit: Annotated[int, Field(ge=1, le=247)] = Field(description="slave id")
    poll_s: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)] = 1.0
    timeout_s: Annotated[float, Field(gt=0, le=60, allow_inf_nan=False)] = 0.5
    retries: Annotated[int, Field(ge=0, le=10)] = 1
    profile: str | None = Field(default=None, description="a device profile; own keys override it")
    registers: dict[Annotated[str, Field(pattern=ID_PATTERN)], RegisterConfig]

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any) -> Any:
        if isinstance(data, dict) and "profile" in data:
            return apply_profile(data)
        return data

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str | None) -> str | None:
        if value is not None and value not in PROFILES:
            raise ValueError(unknown_profile(value))
        return value

    @property
    def channels(self) -> dict[str, ChannelConfig]:
        """The device's channels: one per register, named by its quantity."""
        return {
            quantity: ChannelConfig(
                unit=r.unit, range=r.range, description=r.description, resolution=r.resolution
            )
            for quantity, r in self.registers.items()
        }


class _BusBase(Strict):
    id: Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]
    frame_gap_s: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = Field(
        default=None, description="silence between frames; default 3.5 character times (0 for tcp)"
    )
    max_registers_per_request: Annotated[int, Field(ge=1, le=125)] = 60
    max_gap_registers: Annotated[int, Field(ge=0, le=125)] = Field(
        default=4, description="unmapped registers a merged request may read across"
    )
    reopen_backoff_cap_s: Annotated[float, Field(gt=0, le=300, allow_inf_nan=False)] | None = Field(
        default=None, description="longest wait between reopen attempts; default the shortest poll, <= 5 s"
    )


class _SerialLine(BaseModel):
    baudrate: Annotated[int, Field(ge=300, le=4_000_000)] = 9600
    bytesize: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1


class SerialBusConfig(_BusBase, _SerialLine):
    """RS-485 through a local port (``/dev/ttyUSB0``) or a pyserial URL (``socket://h:p``)."""

    type: Literal["serial"]
    port: str = Field(min_length=1, description="device path or pyserial URL")


class TcpBusConfig(_BusBase):
    """Modbus TCP (MBAP framing): a TCP gateway or a device with Ethernet."""

    type: Literal["tcp"]
    host: str = Field(min_length=1)
    port: Annotated[int, Field(ge=1, le=65535)] = 502


class RtuOverTcpBusConfig(_BusBase, _SerialLine):
    """RTU frames through a TCP socket (a 4G DTU's transparent mode); the serial keys describe the
    DTU's RS-485 side and set the default frame gap."""

    type: Literal["rtu_over_tcp"]
    host: str = Field(min_length=1)
    port: Annotated[int, Field(ge=1, le=65535)]


BusConfig = Annotated[SerialBusConfig | TcpBusConfig | RtuOverTcpBusConfig, Field(discriminator="type")]
