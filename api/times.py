"""Every time the API answers with is ISO 8601 in UTC: epoch seconds are converted here, once.

The runtime and the stores keep epoch seconds (cheap to compare and store); responses carry
``2024-05-01T00:00:00.000Z``. A value is a time by its key: ``ts``, ``since``, ``until``,
``deadline``, or a key ending in ``_ts``, ``_at`` or ``_since``. Durations (``uptime_s``,
``oldest_pending_age_s``) end in ``_s`` and stay numbers. Field names are never changed.
"""

from __future__ import annotations

import math
from typing import Any

from gateway.vocab import iso_utc

TIME_KEYS = frozenset({"ts", "since", "until", "deadline"})
TIME_SUFFIXES = ("_ts", "_at", "_since")
# iso_utc takes years 1..9999; a number outside that is no time the gateway made: left as it is.
_LATEST = 253402300799.0
_EARLIEST = -62135596800.0


def is_time_key(key: str) -> bool:
    return key in TIME_KEYS or key.endswith(TIME_SUFFIXES)


def _iso(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return iso_times(value)
    if not math.isfinite(value) or not _EARLIEST <= value <= _LATEST:
        return value
    return iso_utc(float(value))


def iso_times(value: Any) -> Any:
    """``value`` (dicts and lists, nested) with every epoch number under a time key as ISO 8601."""
    if isinstance(value, dict):
        return {k: _iso(v) if is_time_key(str(k)) else iso_times(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [iso_times(item) for item in value]
    return value
