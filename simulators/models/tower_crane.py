"""Tower crane: working cycles on its load chart, with now and then an attempted overload.

A cycle: trolley out to the pick radius, rig the load, take up (the load cell sees the weight come
on with a small dynamic overshoot), hoist, slew, trolley to the set radius, lower, set down, unhook,
then a pause. Loads are a share of what the chart allows at the cycle's worst radius, so an honest
cycle stays below the share whatever radius it is at. An overload attempt (``overload`` event) lifts
more than the chart allows at the pick radius: the limiter cuts hoisting up (GB 5144 §6.1.2), the
crew lowers, splits the load and carries on with a lawful one.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from simulators.models.device_model import Params, TimedEvent, events_of, quantise

DEFAULT_CHART: tuple[tuple[float, float], ...] = (
    (2.5, 6.0),
    (13.0, 6.0),
    (20.0, 3.9),
    (30.0, 2.5),
    (40.0, 1.8),
    (50.0, 1.3),
)
HOOK_T = 0.03  # what the load cell shows with the hook alone (zeroed with the hook block)
TROLLEY_M_S = 0.8


class CraneParams(Params):
    share_min: Annotated[float, Field(gt=0, le=1.5)] = 0.3
    share_max: Annotated[float, Field(gt=0, le=1.5)] = 0.8
    radius_min: Annotated[float, Field(gt=0, le=80)] = 8.0
    radius_max: Annotated[float, Field(gt=0, le=80)] = 40.0
    pause_s: tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)]] = (20.0, 90.0)
    load_noise_t: Annotated[float, Field(ge=0)] = 0.008
    load_resolution_t: Annotated[float, Field(ge=0)] = 0.01
    radius_noise_m: Annotated[float, Field(ge=0)] = 0.02
    radius_resolution_m: Annotated[float, Field(ge=0)] = 0.01
    period_s: Annotated[float, Field(gt=0, le=3600)] | None = None


class OverloadParams(Params):
    """An attempted lift of ``share`` × the rated load at ``radius`` (default: the cycle's pick)."""

    share: Annotated[float, Field(gt=1.0, le=1.5)] = 1.05
    radius: Annotated[float, Field(gt=0, le=80)] | None = None


class IdleParams(Params):
    """The crane stands parked between ``at_s`` and ``until_s`` (wind, night, shift change)."""


class Chart:
    def __init__(self, pairs: Sequence[tuple[float, float]]) -> None:
        self.r = [float(r) for r, _ in pairs]
        self.load = [float(load) for _, load in pairs]
        self.moment = [r * load for r, load in zip(self.r, self.load, strict=True)]

    def _interp(self, ys: list[float], r: float) -> float:
        if r <= self.r[0]:
            return ys[0]
        if r >= self.r[-1]:
            return ys[-1]
        i = bisect.bisect_right(self.r, r)
        r0, r1 = self.r[i - 1], self.r[i]
        return ys[i - 1] + (ys[i] - ys[i - 1]) * (r - r0) / (r1 - r0)

    def worst_ratio_per_tonne(self, r: float) -> float:
        """max(load ratio, moment ratio) of one tonne at radius r, as the limiter computes them."""
        return max(1.0 / self._interp(self.load, r), r / self._interp(self.moment, r))


@dataclass(frozen=True, slots=True)
class Cycle:
    start: float
    r_from: float
    r_pick: float
    r_set: float
    load: float  # tonnes finally carried
    attempt: float  # tonnes of a refused overload attempt first, 0 if none
    phases: tuple[float, ...]  # durations: out, rig, [attempt, lower, re-rig], take-up, hoist, ...

    @property
    def end(self) -> float:
        return self.start + sum(self.phases)


class Crane:
    quantities = ("load", "radius")
    default_period_s = 1.0

    def __init__(
        self,
        rng: random.Random,
        params: CraneParams,
        events: Sequence[TimedEvent],
        duration_s: float,
        chart: Sequence[tuple[float, float]] = DEFAULT_CHART,
    ) -> None:
        self.rng = rng
        self.p = params
        self.chart = Chart(chart)
        idle = [
            (e.at_s, e.until_s if e.until_s is not None else duration_s) for e in events_of(events, "idle")
        ]
        overloads = events_of(events, "overload")
        self.cycles: list[Cycle] = []
        t, r = 0.0, params.radius_min
        while t < duration_s:
            parked = next((end for start, end in idle if start <= t < end), None)
            if parked is not None:
                t = parked
                continue
            attempt = overloads[0] if overloads and overloads[0].at_s <= t else None
            if attempt is not None:
                overloads.pop(0)
            cycle = self._cycle(t, r, attempt)
            self.cycles.append(cycle)
            r = cycle.r_set
            t = cycle.end + rng.uniform(*params.pause_s)
            nxt = next((s for s, _ in idle if s > cycle.start), None)
            if nxt is not None and t > nxt:
                t = nxt
        self._starts = [c.start for c in self.cycles]
        self._rest_radius = params.radius_min
        self._sway_phase = rng.uniform(0, 2 * math.pi)

    def _cycle(self, start: float, r_from: float, attempt: TimedEvent | None) -> Cycle:
        p, rng = self.p, self.rng
        r_pick = rng.uniform(p.radius_min, min(p.radius_max, p.radius_min + 8.0))
        r_set = rng.uniform(p.radius_min, p.radius_max)
        if attempt is not None and attempt.params.radius is not None:
            r_pick = attempt.params.radius
        worst = max(self.chart.worst_ratio_per_tonne(r) for r in _radii(r_pick, r_set))
        load = rng.uniform(p.share_min, p.share_max) / worst
        tried = 0.0
        if attempt is not None:
            tried = attempt.params.share / self.chart.worst_ratio_per_tonne(r_pick)
            load = min(load, 0.6 / worst)
        out = max(5.0, abs(r_pick - r_from) / TROLLEY_M_S)
        travel = max(5.0, abs(r_set - r_pick) / TROLLEY_M_S)
        phases = [out, rng.uniform(20, 40)]
        if tried:
            phases += [rng.uniform(8, 15), 4.0, rng.uniform(30, 60)]  # held at the cut, lowered, re-rigged
        phases += [4.0, rng.uniform(10, 25), rng.uniform(20, 50), travel, rng.uniform(10, 20), 4.0]
        phases += [rng.uniform(10, 25)]
        return Cycle(start, r_from, r_pick, r_set, load, tried, tuple(phases))

    def sample(self, t: float) -> dict[str, float]:
        i = bisect.bisect_right(self._starts, t) - 1
        load, radius = HOOK_T, self._rest_radius
        if i >= 0:
            load, radius = self._state(self.cycles[i], t)
        sway = 0.01 * load * math.sin(2 * math.pi * t / 6.5 + self._sway_phase)  # pendulum on the rope
        load = max(0.0, load + sway + self.rng.gauss(0, self.p.load_noise_t))
        radius = max(0.0, radius + self.rng.gauss(0, self.p.radius_noise_m))
        return {
            "load": quantise(load, self.p.load_resolution_t),
            "radius": quantise(radius, self.p.radius_resolution_m),
        }

    def _state(self, c: Cycle, t: float) -> tuple[float, float]:
        x = t - c.start
        ph = list(c.phases)
        # out
        if x < ph[0]:
            return HOOK_T, c.r_from + (c.r_pick - c.r_from) * x / ph[0]
        x -= ph[0]
        if x < ph[1]:  # rigging
            return HOOK_T, c.r_pick
        x -= ph[1]
        k = 2
        if c.attempt:
            held, lower, rerig = ph[2], ph[3], ph[4]
            if x < held:
                return _take_up(x, c.attempt), c.r_pick
            x -= held
            if x < lower:
                return c.attempt + (HOOK_T - c.attempt) * x / lower, c.r_pick
            x -= lower
            if x < rerig:
                return HOOK_T, c.r_pick
            x -= rerig
            k = 5
        take_up, hoist, slew, travel, lower, set_down = ph[k : k + 6]
        if x < take_up + hoist + slew:
            return _take_up(x, c.load), c.r_pick
        x -= take_up + hoist + slew
        if x < travel:
            return c.load, c.r_pick + (c.r_set - c.r_pick) * x / travel
        x -= travel
        if x < lower:
            return c.load, c.r_set
        x -= lower
        if x < set_down:
            return c.load + (HOOK_T - c.load) * x / set_down, c.r_set
        return HOOK_T, c.r_set


def _take_up(x: float, load: float) -> float:
    """The weight comes on over 3 s, overshoots a little (dynamic factor) and settles."""
    if x < 3.0:
        return HOOK_T + (load - HOOK_T) * x / 3.0
    return load * (1.0 + 0.02 * math.exp(-(x - 3.0) / 2.0) * math.cos(2 * math.pi * (x - 3.0) / 2.5))


def _radii(a: float, b: float) -> list[float]:
    lo, hi = min(a, b), max(a, b)
    return [lo + (hi - lo) * i / 10 for i in range(11)]
