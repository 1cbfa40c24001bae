"""Device time you cannot trust: plausible epochs, and each device's clock checked against the gateway's.

Pure: numbers in, verdicts out; the gateway's clock is whatever the caller passes as ``arrival``.
Shared by the live MQTT intake and by replay, so both read a stamp the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

# A site gateway's readings are stamped between these years; anything else is a broken clock.
EARLIEST_S = 946_684_800.0  # 2000-01-01T00:00:00Z
LATEST_S = 4_102_444_800.0  # 2100-01-01T00:00:00Z
# Epoch units told apart by magnitude: the plausible ranges of s, ms, µs and ns do not overlap, so
# 253402300800 (seconds, the year 10000) lies in none of them and is refused, never read as ms.
_UNITS = (1.0, 1e3, 1e6, 1e9)
_BOUNDS = np.array([b * u for u in _UNITS for b in (EARLIEST_S, LATEST_S)])
_DIVISOR = np.array([np.nan, *(x for u in _UNITS for x in (u, np.nan))])

# Counted reasons (per device in health, and in the replay summary).
IMPLAUSIBLE_TS = "implausible_ts"  # a number or ISO time outside 2000..2100 in any unit
FUTURE_TS = "future_ts"  # stamped beyond the tolerance ahead of the gateway clock: refused
CLAMPED_TS = "clamped_ts"  # ... and, with ``time_source: device``, given the arrival time instead
TOO_OLD = "too_old"  # older than ``max_reading_age_s``
TIME_REASONS = (IMPLAUSIBLE_TS, FUTURE_TS, CLAMPED_TS, TOO_OLD)

TimeSource = Literal["device_checked", "device", "gateway"]


def epoch_seconds(number: float) -> float | None:
    """Epoch seconds from a number in s, ms, µs or ns; None when no unit gives a year in 2000..2100."""
    if not math.isfinite(number):
        return None
    for unit in _UNITS:
        ts = number / unit
        if EARLIEST_S <= ts < LATEST_S:
            return ts
    return None


def epoch_seconds_array(number: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``epoch_seconds`` over an array: NaN where no unit is plausible."""
    # The usual case, every stamp already in plausible seconds: two passes, no copy.
    if len(number) and number.min() >= EARLIEST_S and number.max() < LATEST_S:
        return number
    # One pass: which plausible range (s, ms, µs, ns) each number falls in, if any (odd positions).
    position = np.searchsorted(_BOUNDS, number, side="right")
    return np.asarray(number / _DIVISOR[position], dtype=np.float64)


def plausible(ts: float) -> bool:
    return EARLIEST_S <= ts < LATEST_S


@dataclass(frozen=True, slots=True)
class TimePolicy:
    """A device's time rules (``time_source``, ``clock_tolerance_s``, ``max_reading_age_s``)."""

    source: TimeSource = "device_checked"
    tolerance_s: float = 300.0
    max_age_s: float = 7 * 86400.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """What becomes of one device stamp: the time to use (None: refused) and why, if not as sent."""

    ts: float | None
    reason: str | None = None
    estimated: bool = False  # the time is the arrival time, not the device's


def judge_stamp(stamp: float, arrival: float, policy: TimePolicy) -> Verdict:
    """One device stamp against the gateway's clock at its arrival."""
    if policy.source == "gateway":
        return Verdict(arrival, None, estimated=True)
    if stamp > arrival + policy.tolerance_s:
        if policy.source == "device":
            return Verdict(arrival, CLAMPED_TS, estimated=True)
        return Verdict(None, FUTURE_TS)
    if stamp < arrival - policy.max_age_s:
        return Verdict(None, TOO_OLD)
    return Verdict(stamp)
