"""Modbus hubs from the site config: one ``ModbusHub`` per bus that has devices.

The runtime calls ``build_modbus_hubs(config, columns)`` with the column of every channel id
(``<device>.<quantity>``) and runs each hub as a source.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from drivers.modbus import BusSpec, DeviceSpec, RegisterSpec
from drivers.modbus.spec import BusKind
from gateway.config.modbus import ModbusDeviceConfig, SerialBusConfig, TcpBusConfig
from gateway.config.models import SiteConfig
from gateway.like_named import like_named

if TYPE_CHECKING:
    from drivers.modbus import ModbusHub


def modbus_bus_specs(config: SiteConfig, columns: Mapping[str, int]) -> list[BusSpec]:
    """Each bus with at least one device, as the hub's plain parameters (config order kept)."""
    devices: dict[str, list[DeviceSpec]] = {}
    for device in config.devices:
        if isinstance(device, ModbusDeviceConfig):
            devices.setdefault(device.bus, []).append(_device_spec(device, columns))
    specs: list[BusSpec] = []
    for bus in config.buses:
        if bus.id not in devices:
            continue
        kind: BusKind
        if isinstance(bus, SerialBusConfig):
            kind, port, host, tcp_port = "serial", bus.port, "", 0
        elif isinstance(bus, TcpBusConfig):
            kind, port, host, tcp_port = "tcp", "", bus.host, bus.port
        else:
            kind, port, host, tcp_port = "rtu_over_tcp", "", bus.host, bus.port
        line = bus if not isinstance(bus, TcpBusConfig) else None
        spec = BusSpec(
            id=bus.id,
            kind=kind,
            port=port,
            host=host,
            tcp_port=tcp_port,
            baudrate=line.baudrate if line else 9600,
            bytesize=line.bytesize if line else 8,
            parity=line.parity if line else "N",
            stopbits=line.stopbits if line else 1,
            frame_gap_s=bus.frame_gap_s,
            max_registers_per_request=bus.max_registers_per_request,
            max_gap_registers=bus.max_gap_registers,
            reopen_cap_s=bus.reopen_backoff_cap_s,
            devices=tuple(devices[bus.id]),
        )
        specs.append(spec)
    return specs


def build_modbus_hubs(
    config: SiteConfig, columns: Mapping[str, int], clock: Callable[[], float] = time.time
) -> list[ModbusHub]:
    """One hub per bus with devices; ``columns`` maps channel id -> column of the channel index."""
    specs = modbus_bus_specs(config, columns)
    if not specs:
        return []  # pymodbus is not even imported
    from drivers.modbus import ModbusHub

    return [ModbusHub(spec, clock=clock) for spec in specs]


def _device_spec(device: ModbusDeviceConfig, columns: Mapping[str, int]) -> DeviceSpec:
    registers = tuple(
        like_named(
            RegisterSpec,
            r,
            quantity=quantity,
            column=columns[f"{device.id}.{quantity}"],
            no_value=r.no_values,
        )
        for quantity, r in device.registers.items()
    )
    return like_named(DeviceSpec, device, registers=registers)
