"""Seeded, physically plausible device models and the faults laid over them.

``MODELS`` names each model for scenario files: its parameters, the quantities it produces, its
default sample period and the events it reacts to.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulators.models.anemometer import Anemometer, AnemometerParams, GustFrontParams
from simulators.models.device_model import Model, Params, TimedEvent, device_rng, quantise
from simulators.models.faults import (
    DATA_FAULTS,
    LINE_FAULTS,
    CrcParams,
    DriftParams,
    DropoutParams,
    FaultInjector,
    LineParams,
    SpikeParams,
    StuckParams,
)
from simulators.models.formwork import FormworkParams, FormworkPoint, PourParams, PrecursorParams
from simulators.models.pit import ExcavationParams, PitParams, PitPoint, RainParams
from simulators.models.tower_crane import DEFAULT_CHART, Crane, CraneParams, IdleParams, OverloadParams


@dataclass(frozen=True, slots=True)
class ModelInfo:
    params: type[Params]
    quantities: tuple[str, ...]
    default_period_s: float
    events: tuple[str, ...]  # physical events this model reacts to


MODELS: dict[str, ModelInfo] = {
    "crane": ModelInfo(CraneParams, Crane.quantities, Crane.default_period_s, ("overload", "idle")),
    "anemometer": ModelInfo(
        AnemometerParams, Anemometer.quantities, Anemometer.default_period_s, ("gust_front",)
    ),
    "formwork": ModelInfo(
        FormworkParams,
        FormworkPoint.quantities,
        FormworkPoint.default_period_s,
        ("pour", "collapse_precursor"),
    ),
    "pit": ModelInfo(PitParams, PitPoint.quantities, PitPoint.default_period_s, ("excavation", "rain")),
}

# The model a site device gets when a scenario does not name one, by the quantity it measures.
DEFAULT_BY_QUANTITY = {"load": "crane", "wind_speed": "anemometer", "settlement": "formwork", "disp_h": "pit"}

__all__ = [
    "DATA_FAULTS",
    "DEFAULT_BY_QUANTITY",
    "DEFAULT_CHART",
    "LINE_FAULTS",
    "MODELS",
    "Anemometer",
    "AnemometerParams",
    "Crane",
    "CraneParams",
    "CrcParams",
    "DriftParams",
    "DropoutParams",
    "ExcavationParams",
    "FaultInjector",
    "FormworkParams",
    "FormworkPoint",
    "GustFrontParams",
    "IdleParams",
    "LineParams",
    "Model",
    "ModelInfo",
    "OverloadParams",
    "Params",
    "PitParams",
    "PitPoint",
    "PourParams",
    "PrecursorParams",
    "RainParams",
    "SpikeParams",
    "StuckParams",
    "TimedEvent",
    "device_rng",
    "quantise",
]
