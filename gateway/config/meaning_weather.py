"""Checks for meaning of the weather section: the site's own signals name real sensor channels, and
action ids are unique per event (a supervisor ticks them by id)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from gateway.config.channel_ids import site_channels
from gateway.config.modbus import ModbusDeviceConfig
from gateway.config.models import SiteConfig
from gateway.config.problem import Problem


def check_weather(config: SiteConfig) -> list[Problem]:
    problems: list[Problem] = []
    sensors = {e.id for e in site_channels(config)}
    local = config.weather.local
    if local.gale is not None:
        for i, channel in enumerate(local.gale.channels):
            if channel not in sensors:
                problems.append(
                    Problem(("weather", "local", "gale", "channels", i), f"no channel {channel!r}")
                )
    if local.rain is not None and local.rain.channel not in sensors:
        problems.append(
            Problem(("weather", "local", "rain", "channel"), f"no channel {local.rain.channel!r}")
        )
    polled = [d.id for d in config.devices if isinstance(d, ModbusDeviceConfig)]
    for r, poll in enumerate(config.weather.faster_polling):
        for i, pattern in enumerate(poll.devices):
            if not any(fnmatchcase(d, pattern) for d in polled):
                where = ("weather", "faster_polling", r, "devices", i)
                problems.append(Problem(where, f"no Modbus device {pattern!r} (only polled devices can be)"))
    for r, row in enumerate(config.weather.actions or []):
        seen: set[str] = set()
        for a, action in enumerate(row.actions):
            if action.id in seen:
                path = ("weather", "actions", r, "actions", a, "id")
                problems.append(Problem(path, f"action {action.id!r} twice in one row"))
            seen.add(action.id)
    return problems
