"""Anemometer at the jib: mean wind with a diurnal cycle, turbulence, gusts and gust fronts.

The speed is the mean wind U(t) plus turbulence (an Ornstein-Uhlenbeck process of standard deviation
``turbulence`` × U and integral time scale ``integral_s``) plus discrete gusts (Poisson arrivals,
a sin² bump of a few seconds, 1-2.5 σ high). A gust front (``gust_front`` event) raises the mean over
``rise_s``, holds it, then lets it decay, with stronger turbulence while it passes. Readings are
quantised to the cup anemometer's 0.1 m/s and never negative.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Annotated

from pydantic import Field

from simulators.models.device_model import Params, TimedEvent, events_of, quantise

DAY_S = 86400.0


class AnemometerParams(Params):
    mean: Annotated[float, Field(ge=0, le=50)] = 4.0
    turbulence: Annotated[float, Field(ge=0, le=1)] = 0.18
    integral_s: Annotated[float, Field(gt=0)] = 8.0
    gusts_per_hour: Annotated[float, Field(ge=0)] = 20.0
    diurnal_amplitude: Annotated[float, Field(ge=0)] = 0.8
    start_hour: Annotated[float, Field(ge=0, lt=24)] = 10.0
    resolution: Annotated[float, Field(ge=0)] = 0.1
    period_s: Annotated[float, Field(gt=0, le=3600)] | None = None


class GustFrontParams(Params):
    """A gust front: the mean rises by ``peak`` m/s over ``rise_s``, holds, decays over ``decay_s``."""

    peak: Annotated[float, Field(gt=0, le=40)] = 7.0
    rise_s: Annotated[float, Field(gt=0)] = 60.0
    hold_s: Annotated[float, Field(ge=0)] = 180.0
    decay_s: Annotated[float, Field(gt=0)] = 600.0
    turbulence_gain: Annotated[float, Field(ge=1, le=3)] = 1.3


class Anemometer:
    quantities = ("wind_speed",)
    default_period_s = 1.0

    def __init__(
        self, rng: random.Random, params: AnemometerParams, events: Sequence[TimedEvent], duration_s: float
    ) -> None:
        self.rng = rng
        self.p = params
        self.fronts = events_of(events, "gust_front")
        self._x = rng.gauss(0, 1)  # turbulence state, in standard deviations
        self._t: float | None = None
        self._gusts: list[tuple[float, float, float]] = []  # start, duration, height in sigmas

    def mean_at(self, t: float) -> tuple[float, float]:
        """Mean wind (m/s) and the turbulence gain of gust fronts at t."""
        p = self.p
        hour = p.start_hour + t / 3600.0
        # Wind is calmest before dawn and strongest in the afternoon (mixing of the boundary layer).
        u = p.mean + p.diurnal_amplitude * math.sin(2 * math.pi * (hour - 9.0) / 24.0)
        gain = 1.0
        for front in self.fronts:
            fp = front.params
            x = t - front.at_s
            if x <= 0:
                continue
            if x < fp.rise_s:
                share = 0.5 - 0.5 * math.cos(math.pi * x / fp.rise_s)
            elif x < fp.rise_s + fp.hold_s:
                share = 1.0
            else:
                share = math.exp(-(x - fp.rise_s - fp.hold_s) / (fp.decay_s / 3.0))
            u += fp.peak * share
            gain = max(gain, 1.0 + (fp.turbulence_gain - 1.0) * share)
        return max(0.0, u), gain

    def sample(self, t: float) -> dict[str, float]:
        p, rng = self.p, self.rng
        dt = 1.0 if self._t is None else max(1e-6, t - self._t)
        self._t = t
        a = math.exp(-dt / p.integral_s)
        self._x = a * self._x + math.sqrt(1.0 - a * a) * rng.gauss(0, 1)
        u, gain = self.mean_at(t)
        sigma = p.turbulence * gain * u
        if rng.random() < p.gusts_per_hour * dt / 3600.0:
            self._gusts.append((t, rng.uniform(3.0, 9.0), rng.uniform(1.0, 2.5)))
        self._gusts = [g for g in self._gusts if t < g[0] + g[1]]
        bump = sum(h * math.sin(math.pi * (t - s) / d) ** 2 for s, d, h in self._gusts)
        speed = max(0.0, u + sigma * (self._x + bump))
        return {"wind_speed": quantise(speed, p.resolution)}
