"""Checks for meaning of Modbus buses and devices: what each field's type alone cannot catch.

``check_modbus`` is pure except for ``ports=True``, which looks for serial device paths on this
machine (``check-config`` wants it; a gateway starting before its USB adapter appears may not).
pyserial URLs (``socket://``, ``rfc2217://``) are never checked for existence.
"""

from __future__ import annotations

import os

import serial

from drivers.modbus.spec import REGISTER_COUNT
from gateway.config.modbus import BIT_FUNCTIONS, ModbusDeviceConfig, RegisterConfig, SerialBusConfig
from gateway.config.models import SiteConfig
from gateway.config.problem import KeyPath, Problem


def register_count(register: RegisterConfig) -> int:
    """Registers (or bits, for coils and discrete inputs) the value takes on the wire."""
    return 1 if register.function in BIT_FUNCTIONS else REGISTER_COUNT[register.type]


# The rates pyserial (and the Linux termios API beneath it) accepts for a serial port.
STANDARD_BAUDRATES = frozenset(serial.Serial.BAUDRATES)


def check_modbus(config: SiteConfig, *, ports: bool = True) -> list[Problem]:
    problems: list[Problem] = []
    buses: dict[str, int] = {}
    for k, bus in enumerate(config.buses):
        if bus.id in buses:
            problems.append(
                Problem(("buses", k, "id"), f"duplicate bus id {bus.id!r} (also buses[{buses[bus.id]}])")
            )
        buses.setdefault(bus.id, k)
        baudrate = getattr(bus, "baudrate", None)
        if bus.type == "serial" and baudrate is not None and baudrate not in STANDARD_BAUDRATES:
            problems.append(
                Problem(
                    ("buses", k, "baudrate"),
                    f"bus {bus.id}: {baudrate} baud is not a rate serial ports take "
                    f"(e.g. 2400, 4800, 9600, 19200, 38400, 57600, 115200)",
                )
            )
    units: dict[tuple[str, int], int] = {}
    users: dict[str, list[str]] = {}
    for i, device in enumerate(config.devices):
        if not isinstance(device, ModbusDeviceConfig):
            continue
        base: KeyPath = ("devices", i)
        if device.bus not in buses:
            known = ", ".join(buses) or "none declared under buses:"
            problems.append(
                Problem((*base, "bus"), f"device {device.id}: unknown bus {device.bus!r} (buses: {known})")
            )
            max_count = None
        else:
            users.setdefault(device.bus, []).append(device.id)
            max_count = config.buses[buses[device.bus]].max_registers_per_request
            key = (device.bus, device.unit)
            if key in units:
                problems.append(
                    Problem(
                        (*base, "unit"),
                        f"device {device.id}: unit {device.unit} on bus {device.bus!r} is also "
                        f"devices[{units[key]}] ({config.devices[units[key]].id}); slave ids on a bus "
                        "must differ",
                    )
                )
            units.setdefault(key, i)
        if device.timeout_s >= device.poll_s:
            problems.append(
                Problem(
                    (*base, "timeout_s"),
                    f"device {device.id}: timeout_s ({device.timeout_s:g}) must be shorter than poll_s "
                    f"({device.poll_s:g}), or a silent slave takes the whole poll period",
                )
            )
        problems += _check_registers(base, device, max_count)
    if ports:
        problems += _check_ports(config, users)
    return problems


def _check_registers(base: KeyPath, device: ModbusDeviceConfig, max_count: int | None) -> list[Problem]:
    problems: list[Problem] = []
    if not device.registers:
        problems.append(Problem((*base, "registers"), f"device {device.id}: no registers"))
    spans: dict[str, list[tuple[int, int, str]]] = {}
    for quantity, register in device.registers.items():
        at: KeyPath = (*base, "registers", quantity)
        count = register_count(register)
        if register.function in BIT_FUNCTIONS and register.type != "bool":
            problems.append(
                Problem(
                    (*at, "type"),
                    f"device {device.id}: a {register.function} holds one bit: type must be bool, "
                    f"not {register.type}",
                )
            )
        elif register.count is not None and register.count != count:
            problems.append(
                Problem(
                    (*at, "count"),
                    f"device {device.id}: {register.type} takes {count} register"
                    f"{'s' if count > 1 else ''}, not {register.count}",
                )
            )
        if register.address + count > 65536:
            problems.append(
                Problem((*at, "address"), f"device {device.id}: {quantity} runs past address 65535")
            )
        if max_count is not None and register.function not in BIT_FUNCTIONS and count > max_count:
            problems.append(
                Problem(
                    (*at, "type"),
                    f"device {device.id}: {register.type} takes {count} registers but the bus allows "
                    f"{max_count} per request (max_registers_per_request)",
                )
            )
        if register.scale == 0:
            problems.append(
                Problem((*at, "scale"), f"device {device.id}: scale 0 would turn every value into the offset")
            )
        if register.range is not None and not register.range[0] < register.range[1]:
            problems.append(Problem((*at, "range"), "range must be [low, high] with low < high"))
        spans.setdefault(register.function, []).append((register.address, count, quantity))
    for function, members in spans.items():
        members.sort()
        end, owner = -1, ""
        for address, count, quantity in members:
            if address < end:
                problems.append(
                    Problem(
                        (*base, "registers", quantity, "address"),
                        f"device {device.id}: {quantity} ({function} {address}..{address + count - 1}) "
                        f"overlaps {owner} (ends at {end - 1})",
                    )
                )
            if address + count > end:
                end, owner = address + count, quantity
    return problems


def _check_ports(config: SiteConfig, users: dict[str, list[str]]) -> list[Problem]:
    problems: list[Problem] = []
    for k, bus in enumerate(config.buses):
        if not isinstance(bus, SerialBusConfig) or "://" in bus.port:
            continue
        if not os.path.exists(bus.port):
            devices = ", ".join(users.get(bus.id, [])) or "no devices yet"
            problems.append(
                Problem(
                    ("buses", k, "port"),
                    f"serial port {bus.port} does not exist (bus {bus.id}, devices: {devices})",
                )
            )
    return problems
