"""What every device model shares: seeded randomness, instrument resolution, params and events.

A model maps scenario time (seconds since the start) to the physical values of its device. It is
sampled at increasing times only, once per sample period, so it may keep state between samples
(turbulence, gusts): the same seed and the same sample times give the same values, bit for bit.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    """Parameters of a model or of an event; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TimedEvent(Protocol):
    """What a model needs of a scenario event: when, until when, and its parameters."""

    @property
    def kind(self) -> str: ...

    @property
    def at_s(self) -> float: ...

    @property
    def until_s(self) -> float | None: ...

    @property
    def params(self) -> Any: ...


class Model(Protocol):
    """A device's physics: ``sample(t)`` at increasing scenario times, values per quantity."""

    def sample(self, t: float) -> dict[str, float]: ...


def device_rng(seed: int, device: str) -> random.Random:
    """A generator of its own per device: adding a device never changes another's readings.

    ``hash()`` of a str is salted per process, so the key goes through SHA-256 instead.
    """
    digest = hashlib.sha256(f"{seed}:{device}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def quantise(value: float, resolution: float) -> float:
    """The value as an instrument with this resolution shows it (e.g. 0.01 mm, 0.1 m/s)."""
    if resolution <= 0:
        return value
    digits = max(0, -math.floor(math.log10(resolution)) + 1)
    return round(round(value / resolution) * resolution, digits)


def events_of(events: Sequence[TimedEvent], *kinds: str) -> list[TimedEvent]:
    return sorted((e for e in events if e.kind in kinds), key=lambda e: e.at_s)


def ramp(t: float, start: float, end: float) -> float:
    """0 before ``start``, 1 after ``end``, linear between."""
    if t <= start:
        return 0.0
    if t >= end or end <= start:
        return 1.0
    return (t - start) / (end - start)


def lagged_ramp(t: float, start: float, end: float, tau: float) -> float:
    """A 0→1 ramp over [start, end] seen through a first-order lag of time constant ``tau``.

    Closed form of the convolution, so it does not depend on the sample period.
    """
    if t <= start:
        return 0.0
    if tau <= 0:
        return ramp(t, start, end)
    span = max(end - start, 1e-9)

    def response(x: float) -> float:  # lagged response to a unit-slope ramp started at 0
        return x - tau * (1.0 - math.exp(-x / tau))

    return (response(t - start) - response(max(0.0, t - end))) / span


def inverse_velocity_creep(t: float, start: float, v0: float, failure_after_s: float, cap: float) -> float:
    """Accelerating creep that fails at ``start + failure_after_s`` (Fukuzono 1985, alpha = 2).

    The velocity is v0 / (1 - tau / Tf), so 1/v falls linearly to zero at failure; displacement is
    its integral, -v0 Tf ln(1 - tau / Tf), capped at ``cap`` (the member has failed by then).
    ``v0`` is per second.
    """
    if t <= start:
        return 0.0
    left = 1.0 - (t - start) / failure_after_s
    if left <= 1e-12:
        return cap
    return min(cap, -v0 * failure_after_s * math.log(left))
