"""The site's crane working-cycle detector, from its crane rules (GB/T 28264 records every cycle).

Each load channel of a ``crane`` rule is one crane (named by its device); its radius comes from the
rule, its hook height from ``<device>.height`` when the site has one, and the wind from the first
channel of the site's first ``wind`` rule (the anemometer at the jib, as a rule).
"""

from __future__ import annotations

from analytics import UNKNOWN, ChannelIndex
from analytics.crane import LoadChart
from analytics.crane_cycles import CycleDetector, CycleSpec
from gateway.config import CraneRuleConfig, SiteConfig, match_channels
from gateway.config.rule_config import WindRuleConfig


def cycle_detector(config: SiteConfig, index: ChannelIndex) -> CycleDetector | None:
    """None when the site has no crane rule."""
    ids = list(index.ids)
    wind = next(
        (match_channels(p, ids) for r in config.rules if isinstance(r, WindRuleConfig) for p in r.channels),
        [],
    )
    wind_column = index.column(wind[0]) if wind else UNKNOWN
    specs: list[CycleSpec] = []
    seen: set[str] = set()
    for rule in config.rules:
        if not isinstance(rule, CraneRuleConfig):
            continue
        chart = LoadChart.from_pairs(rule.chart)
        for pattern in rule.channels:
            for load in match_channels(pattern, ids):
                if load in seen:
                    continue
                seen.add(load)
                crane = load.rpartition(".")[0] or load
                height = index.column(f"{crane}.height")
                radius = index.column(rule.radius)
                specs.append(
                    CycleSpec(
                        crane,
                        index.column(load),
                        chart=chart,
                        radius=radius if radius != UNKNOWN else None,
                        height=height if height != UNKNOWN else None,
                        wind=wind_column if wind_column != UNKNOWN else None,
                        start_t=rule.cycles.start_t,
                        stop_t=rule.cycles.stop_t,
                        min_duration_s=rule.cycles.min_duration_s,
                        max_gap_s=rule.cycles.max_gap_s,
                    )
                )
    return CycleDetector(specs) if specs else None
