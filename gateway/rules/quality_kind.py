"""Builder for data-quality rules: one spike screen and one table for every quality rule."""

from __future__ import annotations

import numpy as np

from analytics.quality import QUALITY_PARAMS, QualitySpec, QualityTable
from gateway.config import QualityRuleConfig
from gateway.config.meaning_quality import spike_floors
from gateway.rules.parts import Binding, Compiled, Context

UNITS = {"silent": "s", "stuck": "s", "out_of_range": "", "spike": ""}


def build_quality(book: Context, compiled: Compiled) -> None:
    specs: list[QualitySpec] = []
    rule_ids: dict[int, str] = {}
    floors = spike_floors(book.config)
    for number, rule, channels in book.rules_of(QualityRuleConfig):
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
        judged_by = book.config.rules[int(table.rule[row])]
        facts: dict[str, object] = {"check": check, "range": book.range_of(channel)}
        if check == "spike" and isinstance(judged_by, QualityRuleConfig):
            facts["spike_window"] = judged_by.spike_window
        name = f"{rule_ids[int(table.rule[row])]}.{check}"
        compiled.bindings.append(Binding(channel, name, unit, "quality", facts))
