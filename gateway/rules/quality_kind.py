"""Builder for data-quality rules: one spike screen and one table for every quality rule."""

from __future__ import annotations

import math

import numpy as np

from analytics.quality import QUALITY_PARAMS, QualitySpec, QualityTable
from gateway.config import QualityRuleConfig, SiteConfig, site_channels
from gateway.config.modbus import ModbusDeviceConfig
from gateway.rules.parts import Binding, Compiled, Context

UNITS = {"silent": "s", "stuck": "s", "out_of_range": "", "spike": ""}
# Without a known resolution, the spike screen's least scale is this share of the channel's range:
# 0.1 % of full scale, the accuracy class of common site sensors. Below it a reading's change is
# the sensor's own noise, not a spike.
RANGE_SHARE = 0.001
INTEGER_TYPES = ("int16", "uint16", "int32", "uint32")


def spike_floors(config: SiteConfig) -> dict[str, float]:
    """Least spike scale per sensor channel: the larger of the resolution (an integer register's
    scale) and RANGE_SHARE of the physical range, where known."""
    out: dict[str, float] = {}
    for entry in site_channels(config):
        floor = 0.0
        span = entry.config.range
        if span is not None and all(math.isfinite(x) for x in span):
            floor = RANGE_SHARE * abs(span[1] - span[0])
        device = entry.device
        if isinstance(device, ModbusDeviceConfig):
            register = device.registers.get(entry.quantity)
            if register is not None and register.type in INTEGER_TYPES:
                floor = max(floor, abs(register.scale))
        out[entry.id] = floor
    return out


def build_quality(book: Context, compiled: Compiled) -> None:
    specs: list[QualitySpec] = []
    rule_ids: dict[int, str] = {}
    floors = spike_floors(book.config)
    for number, rule in enumerate(book.config.rules):
        if not isinstance(rule, QualityRuleConfig):
            continue
        channels = book.matched(rule.channels)
        specs.append(
            QualitySpec(
                rule=number,
                channels=book.columns(channels),
                **{name: getattr(rule, name) for name in QUALITY_PARAMS},
                spike_floor=np.array([floors.get(c, 0.0) for c in channels], dtype=np.float64),
            )
        )
        rule_ids[number] = rule.id
    if not specs:
        return
    table = QualityTable(specs)
    compiled.screens.append(table.screen)
    compiled.judges.append(table)
    for row in range(len(table.channel)):
        check = str(table.check_name[row])
        channel = book.index.ids[int(table.channel[row])]
        unit = UNITS[check] or book.unit(channel)
        rule = book.config.rules[int(table.rule[row])]
        facts: dict[str, object] = {"check": check, "range": book.range_of(channel)}
        if check == "spike" and isinstance(rule, QualityRuleConfig):
            facts["spike_window"] = rule.spike_window
        name = f"{rule_ids[int(table.rule[row])]}.{check}"
        compiled.bindings.append(Binding(channel, name, unit, "quality", facts))
