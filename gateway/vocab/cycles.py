"""Crane working cycles (GB/T 28264 records every lift) as they cross from the analytics to sinks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Ended = Literal["set_down", "interrupted", "open"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CraneCycle:
    """One working cycle of one crane (or, with ``ended="open"``, one in progress)."""

    crane: str
    start_ts: float
    end_ts: float
    duration_s: float
    peak_load_t: float
    peak_load_ratio: float  # NaN: no radius or no chart
    peak_moment_ratio: float
    radius_at_peak_m: float  # radius at the (first) reading of the peak load; NaN if none
    max_radius_m: float
    min_radius_m: float
    max_height_m: float  # NaN without a height channel or reading
    min_height_m: float
    max_wind_ms: float  # NaN without a wind channel or reading
    overload: bool  # peak_load_ratio > 1 or peak_moment_ratio > 1
    samples: int  # load readings of the cycle
    ended: Ended

    def id_at(self, site: str) -> str:
        """The replay-stable id of this cycle at ``site``."""
        return f"{site}-{self.crane}-{_epoch_ms(self.start_ts)}"

    def to_dict(self, site: str) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 UTC with milliseconds, NaN as None, a replay-stable id."""
        start_ms = _epoch_ms(self.start_ts)
        return {
            "id": self.id_at(site),
            "site": site,
            "crane": self.crane,
            "start": _iso_ms(start_ms),
            "end": _iso_ms(_epoch_ms(self.end_ts)),
            "duration_s": _num(self.duration_s),
            "peak_load_t": _num(self.peak_load_t),
            "peak_load_ratio": _num(self.peak_load_ratio),
            "peak_moment_ratio": _num(self.peak_moment_ratio),
            "radius_at_peak_m": _num(self.radius_at_peak_m),
            "max_radius_m": _num(self.max_radius_m),
            "min_radius_m": _num(self.min_radius_m),
            "max_height_m": _num(self.max_height_m),
            "min_height_m": _num(self.min_height_m),
            "max_wind_ms": _num(self.max_wind_ms),
            "overload": self.overload,
            "samples": self.samples,
            "ended": self.ended,
        }


def _epoch_ms(ts: float) -> int:
    # Rounded to the microsecond first, as datetime.fromtimestamp does, then cut to the millisecond
    # (as gateway.vocab.iso_utc prints): 1700000000.123 is 1700000000123, not ...122.
    return round(ts * 1e6) // 1000


def _iso_ms(ms: int) -> str:
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


@dataclass(frozen=True, slots=True)
class SiteCycle:
    """A cycle of a site's crane: what a sink stores and forwards (its id names the site)."""

    site: str
    cycle: CraneCycle

    @property
    def crane(self) -> str:
        return self.cycle.crane

    @property
    def id(self) -> str:
        return self.cycle.id_at(self.site)

    @property
    def start_s(self) -> float:
        """The start as the record prints it (to the millisecond)."""
        return _epoch_ms(self.cycle.start_ts) / 1000

    def to_dict(self) -> dict[str, Any]:
        return self.cycle.to_dict(self.site)
