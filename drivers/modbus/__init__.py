"""Modbus RTU (serial, RTU over TCP) and Modbus TCP: one hub per bus, register maps, decoding."""

from drivers.modbus.decode import decode_bit, decode_registers, encode_value, raw_bytes
from drivers.modbus.hub import DeviceCounters, ModbusHub
from drivers.modbus.read_plan import ReadRequest, plan_requests
from drivers.modbus.spec import REGISTER_COUNT, BusSpec, DeviceSpec, RegisterSpec

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
