"""Device profiles: register maps of common site instruments, named by ``profile:`` on a Modbus device.

A profile gives a device's defaults (poll period, timeout) and its register map. The device's own
keys win: top-level keys replace the profile's, and each register named under ``registers`` is merged
one level into the profile's register of that name (``wind_speed: {address: 1}`` keeps the type and
scale). A register set to ``null`` is dropped. The maps are the common factory defaults of each kind
of instrument; a model that differs is described by overriding, and ``docs/modbus.md`` lists them.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    name: str
    description: str
    registers: dict[str, dict[str, Any]]
    defaults: dict[str, Any] = field(default_factory=dict)


def _float32(address: int, unit: str, description: str, **more: Any) -> dict[str, Any]:
    return {
        "function": "holding",
        "address": address,
        "type": "float32",
        "unit": unit,
        "description": description,
        **more,
    }


PROFILES: dict[str, DeviceProfile] = {
    p.name: p
    for p in (
        DeviceProfile(
            "anemometer_rs485",
            "RS-485 cup or ultrasonic anemometer: wind speed x10 in holding register 0",
            registers={
                "wind_speed": {
                    "function": "holding",
                    "address": 0,
                    "type": "uint16",
                    "scale": 0.1,
                    "unit": "m/s",
                    "range": [0.0, 70.0],
                    "description": "wind speed",
                }
            },
            defaults={"poll_s": 1.0, "timeout_s": 0.3},
        ),
        DeviceProfile(
            "weighing_transmitter",
            "load-cell weighing transmitter on the hoist: signed 32-bit net weight in kg",
            registers={
                "load": {
                    "function": "holding",
                    "address": 0,
                    "type": "int32",
                    "scale": 0.001,
                    "unit": "t",
                    "range": [-1.0, 100.0],
                    "description": "hoist load (net weight)",
                }
            },
            defaults={"poll_s": 0.5, "timeout_s": 0.3},
        ),
        DeviceProfile(
            "tower_crane_monitor",
            "tower-crane safety monitor (black box), generic map: float32 load, radius, height, slew, wind",
            registers={
                "load": _float32(0, "t", "hook load", range=[-1.0, 100.0]),
                "radius": _float32(2, "m", "trolley radius", range=[0.0, 100.0]),
                "height": _float32(4, "m", "hook height", range=[-50.0, 300.0]),
                "slew": _float32(6, "deg", "slew angle", range=[0.0, 360.0]),
                "wind_speed": _float32(8, "m/s", "wind speed at the jib", range=[0.0, 70.0]),
            },
            defaults={"poll_s": 0.5, "timeout_s": 0.3},
        ),
        DeviceProfile(
            "settlement_reader",
            "settlement gauge reader (static level / vibrating wire): float32 settlement in mm",
            registers={"settlement": _float32(0, "mm", "settlement")},
            defaults={"poll_s": 60.0, "timeout_s": 1.0},
        ),
        DeviceProfile(
            "displacement_reader",
            "displacement meter reader: float32 displacement in mm",
            registers={"displacement": _float32(0, "mm", "displacement")},
            defaults={"poll_s": 60.0, "timeout_s": 1.0},
        ),
        DeviceProfile(
            "tilt_reader",
            "MEMS dual-axis inclinometer: float32 tilt about X and Y in degrees",
            registers={
                "tilt_x": _float32(0, "deg", "tilt about X", range=[-30.0, 30.0]),
                "tilt_y": _float32(2, "deg", "tilt about Y", range=[-30.0, 30.0]),
            },
            defaults={"poll_s": 10.0, "timeout_s": 1.0},
        ),
        DeviceProfile(
            "axial_force_reader",
            "axial force reader for struts and anchors (vibrating-wire gauge): float32 force in kN",
            registers={"axial_force": _float32(0, "kN", "axial force")},
            defaults={"poll_s": 60.0, "timeout_s": 1.0},
        ),
    )
}


def unknown_profile(name: str) -> str:
    close = difflib.get_close_matches(name, PROFILES, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(PROFILES)}"
    return f"unknown profile {name!r}{hint}"


def apply_profile(device: Mapping[str, Any]) -> dict[str, Any]:
    """The profile's defaults and registers under the device's own keys (the input is not changed).

    A device without a known profile comes back as it is, for validation to report.
    """
    name = device.get("profile")
    profile = PROFILES.get(name) if isinstance(name, str) else None
    if profile is None:
        return dict(device)
    merged: dict[str, Any] = copy.deepcopy(profile.defaults)
    registers: dict[str, Any] = copy.deepcopy(profile.registers)
    for key, value in device.items():
        if key != "registers":
            merged[key] = copy.deepcopy(value)
    own = device.get("registers")
    if isinstance(own, Mapping):
        for quantity, register in own.items():
            below = registers.get(quantity)
            if register is None:
                registers.pop(quantity, None)
            elif isinstance(register, Mapping) and isinstance(below, Mapping):
                registers[quantity] = {**below, **copy.deepcopy(dict(register))}
            else:
                registers[quantity] = copy.deepcopy(register)
    elif own is not None:
        registers = own  # not a mapping: let validation say so
    merged["registers"] = registers
    return merged
