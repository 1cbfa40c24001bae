"""A settlement point (and pole tilt) of a high formwork while concrete is poured.

The shores shorten elastically under the poured load, seen through a lag (joints bedding in,
timber creeping), so settlement follows the pour's progress: ``initial_mm`` + ``final_mm`` × the
lagged share poured (``pour`` event between ``at_s`` and ``until_s``). Tilt grows the same way.
A ``collapse_precursor`` event starts creep that accelerates as a buckling shore does: its
velocity is v0 / (1 - τ/Tf), failing after ``failure_after_s`` (Fukuzono's inverse velocity, α = 2),
so it takes minutes, not days, from first sign to collapse.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Annotated

from pydantic import Field

from simulators.models.device_model import (
    Params,
    TimedEvent,
    events_of,
    inverse_velocity_creep,
    lagged_ramp,
    quantise,
)


class FormworkParams(Params):
    initial_mm: Annotated[float, Field(ge=-20, le=50)] = 0.3
    final_mm: Annotated[float, Field(ge=0, le=50)] = 3.0
    tilt_final_permille: Annotated[float, Field(ge=0, le=20)] = 0.8
    lag_s: Annotated[float, Field(ge=0)] = 600.0
    noise_mm: Annotated[float, Field(ge=0)] = 0.03
    resolution_mm: Annotated[float, Field(ge=0)] = 0.01
    period_s: Annotated[float, Field(gt=0, le=3600)] | None = None


class PourParams(Params):
    """Concrete poured at a steady rate from ``at_s`` to ``until_s``."""


class PrecursorParams(Params):
    """Accelerating settlement: initial rate ``v0_mm_min``, failure ``failure_after_s`` after onset."""

    v0_mm_min: Annotated[float, Field(gt=0, le=10)] = 0.05
    failure_after_s: Annotated[float, Field(gt=0)] = 1800.0
    tilt_permille_per_mm: Annotated[float, Field(ge=0)] = 0.3


COLLAPSED_MM = 90.0  # the shore has failed; the reading stays inside the sensor's range


class FormworkPoint:
    quantities = ("settlement", "tilt")
    default_period_s = 10.0

    def __init__(
        self, rng: random.Random, params: FormworkParams, events: Sequence[TimedEvent], duration_s: float
    ) -> None:
        self.rng = rng
        self.p = params
        self.pours = [
            (e.at_s, e.until_s if e.until_s is not None else duration_s) for e in events_of(events, "pour")
        ]
        self.precursors = events_of(events, "collapse_precursor")

    def settlement_at(self, t: float) -> tuple[float, float]:
        """Settlement (mm) and tilt (‰) without noise."""
        p = self.p
        poured = sum(lagged_ramp(t, a, b, p.lag_s) for a, b in self.pours) / max(1, len(self.pours))
        settlement = p.initial_mm + p.final_mm * poured
        tilt = p.tilt_final_permille * poured
        for e in self.precursors:
            ep = e.params
            creep = inverse_velocity_creep(t, e.at_s, ep.v0_mm_min / 60.0, ep.failure_after_s, COLLAPSED_MM)
            settlement += creep
            tilt += ep.tilt_permille_per_mm * creep
        return min(settlement, COLLAPSED_MM), tilt

    def sample(self, t: float) -> dict[str, float]:
        settlement, tilt = self.settlement_at(t)
        settlement += self.rng.gauss(0, self.p.noise_mm)
        tilt += self.rng.gauss(0, 0.02)
        return {
            "settlement": quantise(settlement, self.p.resolution_mm),
            "tilt": quantise(tilt, 0.01),
        }
