"""Monitoring frequency follows the weather: devices polled faster while a warning is in force.

A warning-desk listener. After every change it works out, from all warnings in force (official or
the site's own), the period each device named in ``weather.faster_polling`` should have: the
shortest of the rows a warning in force meets (its event, at or above the row's colour), or its
configured period when none does; and tells the Modbus hubs. Also applied once at start, so a
rainstorm in force before a restart keeps its faster polling after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from fnmatch import fnmatchcase
from typing import Protocol, runtime_checkable

from drivers.cap.codes import colour_rank
from drivers.cap.lifecycle import Applied
from drivers.cap.warning import WarningRecord
from gateway.config.weather import FasterPolling

log = logging.getLogger(__name__)


@runtime_checkable
class Pollable(Protocol):
    """What a Modbus hub offers (``drivers.modbus.ModbusHub``)."""

    def set_poll_period(self, device_id: str, poll_s: float | None) -> bool: ...


class PollControl:
    def __init__(
        self,
        rows: Sequence[FasterPolling],
        hubs: Sequence[Pollable],
        devices: Sequence[str],
        in_force: Callable[[], Iterable[WarningRecord]],
    ) -> None:
        self._rows = rows
        self._hubs = hubs
        self._in_force = in_force
        self._devices = {r_i: [d for d in devices if any(fnmatchcase(d, p) for p in row.devices)]
                         for r_i, row in enumerate(rows)}  # fmt: skip
        self.faster: dict[str, float] = {}  # device -> period now, while faster

    async def changed(self, applied: list[Applied]) -> None:
        self.apply()

    def apply(self) -> None:
        records = [r for r in self._in_force() if r.in_force]
        wanted: dict[str, float] = {}
        for i, row in enumerate(self._rows):
            if any(
                r.event == row.event and colour_rank(r.colour) >= colour_rank(row.colour) for r in records
            ):
                for device in self._devices[i]:
                    wanted[device] = min(row.poll_s, wanted.get(device, row.poll_s))
        for device in {d for ds in self._devices.values() for d in ds}:
            period = wanted.get(device)
            if self.faster.get(device) == period:
                continue
            for hub in self._hubs:
                if hub.set_poll_period(device, period):
                    break
            if period is None:
                self.faster.pop(device, None)
                log.info("weather: %s polled at its own period again", device)
            else:
                self.faster[device] = period
                log.info("weather: %s polled every %g s while the warning is in force", device, period)
