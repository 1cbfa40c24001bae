"""Wall-top horizontal displacement of a foundation pit: excavation stages, creep, rain.

Each ``excavation`` stage adds ``delta_mm`` that develops as creep converging with time constant
``tau_s`` (days): the rate falls after each stage, as GB 50497 expects of a stable pit. Heavy rain
(``rain`` event: from ``at_s``) softens the soil behind the wall and starts movement that does not
converge: its velocity v0 / (1 - τ/Tf) keeps growing (Fukuzono, α = 2), the danger sign of
JGJ 120 §8.2.23. A small daily temperature swing of the wall and the survey noise sit on top.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Annotated

from pydantic import Field

from simulators.models.device_model import Params, TimedEvent, events_of, inverse_velocity_creep, quantise

DAY_S = 86400.0


class PitParams(Params):
    initial_mm: Annotated[float, Field(ge=-50, le=100)] = 8.0
    thermal_mm: Annotated[float, Field(ge=0, le=5)] = 0.03
    noise_mm: Annotated[float, Field(ge=0)] = 0.08
    resolution_mm: Annotated[float, Field(ge=0)] = 0.01
    period_s: Annotated[float, Field(gt=0, le=3600)] | None = None


class ExcavationParams(Params):
    """One excavation stage: ``delta_mm`` of movement converging with time constant ``tau_s``."""

    delta_mm: Annotated[float, Field(ge=-50, le=50)] = 3.0
    tau_s: Annotated[float, Field(gt=0)] = 1.5 * DAY_S


class RainParams(Params):
    """Non-converging movement after heavy rain: initial rate ``v0_mm_day``, runaway after Tf."""

    v0_mm_day: Annotated[float, Field(gt=0, le=50)] = 0.8
    failure_after_s: Annotated[float, Field(gt=0)] = 3.0 * DAY_S


RUNAWAY_MM = 150.0


class PitPoint:
    quantities = ("disp_h",)
    default_period_s = 30.0

    def __init__(
        self, rng: random.Random, params: PitParams, events: Sequence[TimedEvent], duration_s: float
    ) -> None:
        self.rng = rng
        self.p = params
        self.stages = events_of(events, "excavation")
        self.rains = events_of(events, "rain")

    def displacement_at(self, t: float) -> float:
        d = self.p.initial_mm + self.p.thermal_mm * math.sin(2 * math.pi * t / DAY_S)
        for e in self.stages:
            if t > e.at_s:
                d += e.params.delta_mm * (1.0 - math.exp(-(t - e.at_s) / e.params.tau_s))
        for e in self.rains:
            ep = e.params
            d += inverse_velocity_creep(t, e.at_s, ep.v0_mm_day / DAY_S, ep.failure_after_s, RUNAWAY_MM)
        return d

    def sample(self, t: float) -> dict[str, float]:
        d = self.displacement_at(t) + self.rng.gauss(0, self.p.noise_mm)
        return {"disp_h": quantise(d, self.p.resolution_mm)}
