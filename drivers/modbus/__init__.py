"""Modbus RTU (serial, RTU over TCP) and Modbus TCP: one hub per bus, register maps, decoding.

The hub (and pymodbus with it) is imported on first use of ``ModbusHub``/``DeviceCounters``: the site
config's register types come from ``spec`` here, and a site without a Modbus device needs no more.
"""

from typing import TYPE_CHECKING

from drivers.modbus.decode import decode_bit, decode_registers, encode_value, raw_bytes
from drivers.modbus.read_plan import ReadRequest, plan_requests
from drivers.modbus.spec import REGISTER_COUNT, BusSpec, DeviceSpec, RegisterSpec

if TYPE_CHECKING:
    from drivers.modbus.hub import DeviceCounters, ModbusHub

__all__ = [
    "REGISTER_COUNT",
    "BusSpec",
    "DeviceCounters",
    "DeviceSpec",
    "ModbusHub",
    "ReadRequest",
    "RegisterSpec",
    "decode_bit",
    "decode_registers",
    "encode_value",
    "plan_requests",
    "raw_bytes",
]


def __getattr__(name: str) -> object:
    if name in ("DeviceCounters", "ModbusHub"):
        from drivers.modbus import hub

        return getattr(hub, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
