"""Simple, seeded signal models for the demo site (the full simulators replace these).

Each model maps scenario time (seconds since start, already scaled by the speed) to a value.
The first minute is scripted so the demo shows alarms being raised and cleared.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

# Load chart of the demo crane: rated load (t) falls with radius (m), as a 6 t / 50 m crane's does.
CHART_RADIUS = (2.5, 13.0, 20.0, 30.0, 40.0, 50.0)
CHART_LOAD = (6.0, 6.0, 3.9, 2.5, 1.8, 1.3)


def rated_load(radius: float) -> float:
    for i in range(1, len(CHART_RADIUS)):
        if radius <= CHART_RADIUS[i]:
            r0, r1 = CHART_RADIUS[i - 1], CHART_RADIUS[i]
            l0, l1 = CHART_LOAD[i - 1], CHART_LOAD[i]
            return l0 + (l1 - l0) * (max(radius, r0) - r0) / (r1 - r0)
    return CHART_LOAD[-1]


@dataclass
class Crane:
    """Lifting cycles of 40 s: hook up, carry out to a radius, set down, return."""

    rng: random.Random
    cycle_s: float = 40.0
    # Share of the rated load lifted in each cycle; the first one is an attempted overload.
    plan: list[float] = field(default_factory=lambda: [1.04, 0.6, 0.7, 0.5, 0.8, 0.65])

    def sample(self, t: float) -> dict[str, float]:
        cycle = int(t // self.cycle_s)
        phase = (t % self.cycle_s) / self.cycle_s
        share = self.plan[cycle % len(self.plan)]
        radius_out = 18.0 + 6.0 * math.sin(cycle * 1.7)
        if phase < 0.15 or phase > 0.85:  # hook empty near the mast
            load, radius = 0.05, 8.0 + 2.0 * phase
        else:
            ramp = min(1.0, (phase - 0.15) / 0.2, (0.85 - phase) / 0.2)
            radius = 8.0 + (radius_out - 8.0) * ramp
            load = share * rated_load(radius_out)
        load = max(0.0, load + self.rng.gauss(0, 0.01))
        return {"load": round(load, 3), "radius": round(radius, 2)}


@dataclass
class Anemometer:
    """Mean wind with turbulence, and a gust front between 20 s and 40 s."""

    rng: random.Random
    mean: float = 5.5

    def sample(self, t: float) -> dict[str, float]:
        front = 7.5 * math.exp(-((((t % 300.0) - 30.0) / 6.0) ** 2))
        slow = 1.0 * math.sin(2 * math.pi * t / 600.0)
        speed = max(0.0, self.mean + slow + front + self.rng.gauss(0, 0.4))
        return {"wind_speed": round(speed, 1)}


@dataclass
class FormworkPoint:
    """Settlement (mm) growing with the poured load over an hour."""

    rng: random.Random
    final_mm: float

    def sample(self, t: float) -> dict[str, float]:
        poured = min(1.0, t / 3600.0)
        return {"settlement": round(self.final_mm * poured + self.rng.gauss(0, 0.05), 2)}


@dataclass
class PitPoint:
    """Wall-top horizontal displacement (mm): an offset plus creep that converges."""

    rng: random.Random
    start_mm: float
    creep_mm: float

    def sample(self, t: float) -> dict[str, float]:
        creep = self.creep_mm * (1.0 - math.exp(-t / 7200.0))
        return {"disp_h": round(self.start_mm + creep + self.rng.gauss(0, 0.1), 2)}
