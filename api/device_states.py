"""Each device's state as a supervisor needs it: working, silent, failing, in maintenance.

``ok``: its newest readings are good and recent. ``stale``: nothing for longer than
``stale_after_s`` (three report periods, or 10 minutes when the site file gives none). ``failing``:
its bus reports it failing (Modbus timeouts, CRC errors) or its newest reading is a communication
failure. ``bad_data``: it answers, but a newest value is unusable (out of range, no value).
``no_data``: nothing since the gateway started. ``maintenance``: a person put it in maintenance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from gateway.config import ChannelEntry, DeviceConfig, SiteConfig
from gateway.live import LatestReadings, Rounding
from gateway.runtime import Runtime
from gateway.vocab import Quality, iso_utc

DEFAULT_STALE_S = 600.0
PERIODS_BEFORE_STALE = 3


class SourceView(Protocol):
    name: str

    @property
    def connected(self) -> bool: ...


def _iso(ts: float | None) -> str | None:
    return iso_utc(ts) if ts is not None and math.isfinite(ts) else None


def _quality(latest: LatestReadings, column: int) -> str | None:
    return Quality.describe(int(latest.quality[column])) if math.isfinite(latest.ts[column]) else None


def stale_after_s(device: DeviceConfig) -> float:
    period = getattr(device, "period_s", None) or getattr(device, "poll_s", None)
    return PERIODS_BEFORE_STALE * float(period) if period else DEFAULT_STALE_S


class DeviceStates:
    def __init__(
        self,
        config: SiteConfig,
        channels: Sequence[ChannelEntry],
        latest: LatestReadings,
        rounding: Rounding,
        sources: Sequence[SourceView],
        in_maintenance: Callable[[str], bool],
        clock: Callable[[], float],
    ) -> None:
        self._config = config
        self._latest = latest
        self._rounding = rounding
        self._sources = sources
        self._in_maintenance = in_maintenance
        self._clock = clock
        self._columns: dict[str, list[tuple[int, ChannelEntry]]] = {}
        for column, entry in enumerate(channels):
            self._columns.setdefault(entry.device.id, []).append((column, entry))

    def _source_of(self, device: DeviceConfig) -> tuple[SourceView | None, dict[str, Any] | None]:
        for source in self._sources:
            counters = getattr(source, "counters", None)
            if counters is not None:
                mine = counters().get(device.id)
                if mine is not None:
                    return source, mine
            elif device.type == "mqtt":
                return source, None
        return None, None

    def view(self, device: DeviceConfig) -> dict[str, Any]:
        now = self._clock()
        latest = self._latest
        columns = self._columns.get(device.id, [])
        sensors = [(c, e) for c, e in columns if e.derived_by is None] or columns
        newest = max((float(latest.ts[c]) for c, _ in sensors), default=-math.inf)
        good = [(float(latest.good_ts[c]), c, e) for c, e in columns if math.isfinite(latest.good_ts[c])]
        last_good = max(good, key=lambda g: g[0], default=None)
        source, counters = self._source_of(device)
        failing_since = counters.get("failing_since") if counters else None
        newest_bad = [int(latest.quality[c]) for c, _ in sensors if latest.ts[c] == newest]
        stale_s = stale_after_s(device)
        if self._in_maintenance(device.id):
            state = "maintenance"
        elif failing_since is not None or any(q & Quality.BAD_COMM for q in newest_bad):
            state = "failing"
        elif not math.isfinite(newest):
            state = "no_data"
        elif now - newest > stale_s:
            state = "stale"
        elif any(q >= Quality.BAD for c, _ in sensors for q in [int(latest.quality[c])]):
            state = "bad_data"
        else:
            state = "ok"
        return {
            "state": state,
            "stale_after_s": stale_s,
            "last_reading_at": _iso(newest),
            "last_good": None
            if last_good is None
            else {
                "channel": last_good[2].id,
                "ts": _iso(last_good[0]),
                "value": self._rounding.column(last_good[1], float(latest.good_value[last_good[1]])),
            },
            "readings": [
                {
                    "channel": e.id,
                    "last_at": _iso(float(latest.ts[c])),
                    "quality": Quality.describe(int(latest.quality[c]))
                    if math.isfinite(latest.ts[c])
                    else None,
                    "last_good_at": _iso(float(latest.good_ts[c])),
                    "last_good_value": self._rounding.column(c, float(latest.good_value[c])),
                }
                for c, e in columns
            ],
            "errors": {
                "failing_since": _iso(failing_since),
                "last_error": counters.get("last_error") if counters else None,
                "counts": dict(counters.get("errors", {})) if counters else {},
            },
            "link": None if source is None else {"name": source.name, "connected": bool(source.connected)},
        }

    def states(self) -> dict[str, tuple[str, bool | None]]:
        """Each device's state and link, cheaply comparable: what the feed watches for changes."""
        out = {}
        for device in self._config.devices:
            view = self.view(device)
            link = view["link"]
            out[device.id] = (view["state"], None if link is None else link["connected"])
        return out


def watch_devices(runtime: Runtime) -> DeviceStates:
    """The runtime's device states, which its live feed then watches for changes (``device`` events)."""
    feed = runtime.live
    states = DeviceStates(
        runtime.config,
        runtime.site.channels,
        feed.latest,
        feed.rounding,
        runtime.sources,
        in_maintenance=runtime.desk.maintenance.covers,
        clock=runtime.clock,
    )
    by_id = {d.id: d for d in runtime.config.devices}
    feed.watch_devices(states.states, lambda device: states.view(by_id[device]))
    return states
