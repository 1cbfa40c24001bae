"""A scenario's readings, deterministic for its seed: ``readings(scenario, site_config)``.

Every device of the site is sampled at its period (the model's default, the scenario's ``periods``,
or the device's ``period_s``) from t = 0 while t < ``duration_s``; frames come sorted by time, then
by the device's place in the site file. Values are in scenario time; publishers stamp them with
their start time + ``t_s``. A frame carries either values (a value is None when the device reports
none: a dropout) or, for line faults, ``values=None`` and the fault the publisher acts out.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.config import CraneRuleConfig, SiteConfig
from gateway.config.derived import device_of
from simulators.models import (
    DEFAULT_CHART,
    MODELS,
    Anemometer,
    Crane,
    FaultInjector,
    FormworkPoint,
    Model,
    PitPoint,
    device_rng,
)
from simulators.scenario import Scenario, device_models, event_devices


@dataclass(frozen=True, slots=True)
class Frame:
    t_s: float
    device: str
    values: dict[str, float | None] | None
    fault: str | None = None

    def to_json(self) -> str:
        """One line, the same bytes for the same frame (keys in the site's order, repr floats)."""
        return json.dumps(
            {"t_s": self.t_s, "device": self.device, "values": self.values, "fault": self.fault}
        )


def readings(scenario: Scenario, site_config: SiteConfig) -> Iterator[Frame]:
    """Frames of every site device over the run, sorted by ``t_s``."""
    streams = [
        _device_frames(scenario, site_config, order, device.id, list(device.channels))
        for order, device in enumerate(site_config.devices)
    ]
    for _, _, frame in heapq.merge(*streams):
        yield frame


def _device_frames(
    scenario: Scenario, site: SiteConfig, order: int, device: str, quantities: list[str]
) -> Iterator[tuple[float, int, Frame]]:
    model_name = device_models(scenario, site)[device]
    if model_name is None:
        return
    spec = scenario.devices.get(device)
    params: Any = spec.params if spec is not None else MODELS[model_name].params()
    events = [e for e in scenario.events if device in event_devices(e.device, [device])]
    rng = device_rng(scenario.seed, device)
    model = _build(model_name, rng, params, events, scenario.duration_s, _chart(site, device))
    faults = FaultInjector(device_rng(scenario.seed, f"{device}/faults"), events)
    periods: dict[str, float] = {str(k): v for k, v in scenario.periods.items()}
    period = params.period_s or periods.get(model_name) or MODELS[model_name].default_period_s
    k = 0
    while True:
        t = round(k * period, 6)
        if t >= scenario.duration_s:
            return
        sampled = model.sample(t)
        values: dict[str, float | None] = {q: sampled[q] for q in quantities}
        shown, fault = faults.apply(t, values)
        yield t, order, Frame(t, device, shown, fault)
        k += 1


def _build(name: str, rng: Any, params: Any, events: list[Any], duration_s: float, chart: Any) -> Model:
    if name == "crane":
        return Crane(rng, params, events, duration_s, chart)
    if name == "anemometer":
        return Anemometer(rng, params, events, duration_s)
    if name == "formwork":
        return FormworkPoint(rng, params, events, duration_s)
    return PitPoint(rng, params, events, duration_s)


def _chart(site: SiteConfig, device: str) -> tuple[tuple[float, float], ...]:
    """The load chart of the crane rule that judges this device, if any."""
    for rule in site.rules:
        if isinstance(rule, CraneRuleConfig) and device_of(rule.radius) == device:
            return tuple((float(r), float(load)) for r, load in rule.chart)
    return DEFAULT_CHART
