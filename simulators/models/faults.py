"""Sensor and line faults, applied on top of a device's true values.

Data faults change what the sensor reports: ``spike`` (a wild reading, once or every ``every_s``),
``stuck`` (the reading freezes), ``drift`` (the zero creeps away at ``rate_per_h``), ``dropout``
(no value: the device reports null). Line faults are for the publishers to act out, so a frame
carries them instead of values: ``crc`` (the slave answers with a bad CRC; a ``share`` of polls),
``silent`` (the slave stops answering), ``cable_cut`` (the bus is cut, then restored at
``until_s``), ``offline`` (an MQTT device drops off the broker).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Annotated

from pydantic import Field

from simulators.models.device_model import Params, TimedEvent

DATA_FAULTS = ("spike", "stuck", "drift", "dropout")
LINE_FAULTS = ("crc", "silent", "cable_cut", "offline")


class SpikeParams(Params):
    size: Annotated[float, Field(allow_inf_nan=False)] = 15.0
    every_s: Annotated[float, Field(gt=0)] | None = None
    quantity: str | None = None


class StuckParams(Params):
    quantity: str | None = None
    value: Annotated[float, Field(allow_inf_nan=False)] | None = None


class DriftParams(Params):
    rate_per_h: Annotated[float, Field(allow_inf_nan=False)] = 1.0
    quantity: str | None = None


class DropoutParams(Params):
    quantity: str | None = None


class CrcParams(Params):
    share: Annotated[float, Field(gt=0, le=1)] = 1.0


class LineParams(Params):
    """No parameters: the fault lasts from ``at_s`` to ``until_s``."""


class FaultInjector:
    """The faults of one device, applied sample by sample in time order."""

    def __init__(self, rng: random.Random, events: Sequence[TimedEvent]) -> None:
        self.rng = rng
        self.events = sorted(
            (e for e in events if e.kind in DATA_FAULTS or e.kind in LINE_FAULTS), key=lambda e: e.at_s
        )
        self._next_spike: dict[int, float] = {
            i: e.at_s for i, e in enumerate(self.events) if e.kind == "spike"
        }
        self._frozen: dict[int, dict[str, float | None]] = {}

    def apply(
        self, t: float, values: dict[str, float | None]
    ) -> tuple[dict[str, float | None] | None, str | None]:
        out = dict(values)
        for i, e in enumerate(self.events):
            if t < e.at_s:
                break
            active = e.until_s is None or t < e.until_s
            if e.kind in LINE_FAULTS:
                if active and (e.kind != "crc" or self.rng.random() < e.params.share):
                    return None, e.kind
                continue
            names = [e.params.quantity] if e.params.quantity is not None else list(out)
            if e.kind == "spike":
                due = self._next_spike.get(i)
                if due is None or t < due or not active:
                    continue
                every = e.params.every_s
                self._next_spike[i] = (
                    due + every if every is not None and e.until_s is not None else float("inf")
                )
                while every is not None and self._next_spike[i] <= t:
                    self._next_spike[i] += every
                for q in names:
                    v = out.get(q)
                    out[q] = None if v is None else round(v + e.params.size, 6)
            elif not active:
                continue
            elif e.kind == "stuck":
                frozen = self._frozen.setdefault(i, {q: out.get(q) for q in names})
                for q in names:
                    out[q] = frozen[q] if e.params.value is None else e.params.value
            elif e.kind == "drift":
                for q in names:
                    v = out.get(q)
                    out[q] = None if v is None else round(v + e.params.rate_per_h * (t - e.at_s) / 3600.0, 6)
            elif e.kind == "dropout":
                for q in names:
                    out[q] = None
        return out, None
