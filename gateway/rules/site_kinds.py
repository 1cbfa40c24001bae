"""Builders for the rule kinds that combine channels: wind, crane and combined rules."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from analytics.combined import CombinedSpec, CombinedTable
from analytics.crane import CraneDeriver, CraneOverloadTable, LoadChart
from analytics.thresholds import ThresholdSpec
from analytics.wind import WindDeriver, WindSpec, WindTable
from gateway.config import CombinedRuleConfig, CraneRuleConfig, WindRuleConfig
from gateway.config.derived import WIND_OUTPUTS, device_of
from gateway.rules.parts import Binding, Compiled, Context


def build_wind(book: Context, compiled: Compiled) -> None:
    """One deriver for every anemometer, one table for every wind rule."""
    specs: list[WindSpec] = []
    sources: list[int] = []
    outputs: dict[str, list[int]] = {q: [] for q in WIND_OUTPUTS}
    for number, rule in enumerate(book.config.rules):
        if not isinstance(rule, WindRuleConfig):
            continue
        channels = book.sources[number]
        cols = book.index.columns(channels)

        def derived(quantity: str, channels: list[str] = channels) -> npt.NDArray[np.int32]:
            return book.columns([f"{device_of(c)}.{quantity}" for c in channels])

        for quantity in outputs:
            outputs[quantity] += derived(quantity).tolist()
        sources += cols.tolist()
        specs.append(
            WindSpec(
                rule=number,
                channels=cols,
                mean=derived("wind_2min" if rule.mean == "2min" else "wind_10min"),
                gust=derived("gust"),
                watch_level=rule.watch_level,
                stop_lifting_level=rule.stop_lifting_level,
                working_limit=rule.working_limit,
                hysteresis=rule.hysteresis,
            )
        )
        mean = "wind_2min" if rule.mean == "2min" else "wind_10min"
        compiled.bindings += [Binding(c, rule.id, "m/s", "wind", {"mean": mean}) for c in channels]
    if not specs:
        return
    compiled.derivers.append(
        WindDeriver(
            np.array(sources),
            np.array(outputs["wind_3s"]),
            np.array(outputs["wind_2min"]),
            np.array(outputs["wind_10min"]),
            np.array(outputs["gust"]),
            np.array(outputs["wind_level"]),
        )
    )
    compiled.judges.append(WindTable(specs))


def build_crane(book: Context, compiled: Compiled) -> None:
    """A deriver for the load and moment ratios, and one overload row per crane judging the larger.

    One overload is one alarm, on the crane's ``load_ratio`` channel, naming both ratios.
    """
    load: list[int] = []
    radius: list[int] = []
    load_ratio: list[int] = []
    moment_ratio: list[int] = []
    charts: list[LoadChart] = []
    specs: list[ThresholdSpec] = []
    bindings: list[Binding] = []
    for number, rule in enumerate(book.config.rules):
        if not isinstance(rule, CraneRuleConfig):
            continue
        for channel in book.sources[number]:
            device = device_of(channel)
            ratio_ids = [f"{device}.load_ratio", f"{device}.moment_ratio"]
            load.append(book.index.column(channel))
            radius.append(book.index.column(rule.radius))
            load_ratio.append(book.index.column(ratio_ids[0]))
            moment_ratio.append(book.index.column(ratio_ids[1]))
            charts.append(LoadChart.from_pairs(rule.chart))
            limits = tuple(np.nan if v is None else float(v) for v in rule.ratios.as_tuple())
            specs.append(
                ThresholdSpec(
                    rule=number,
                    channels=book.index.columns(ratio_ids[:1]),
                    upper=(limits[0], limits[1], limits[2]),
                    hysteresis=rule.hysteresis,
                )
            )
            bindings.append(Binding(ratio_ids[0], rule.id, "", "crane"))
    if not load:
        return
    deriver = CraneDeriver(
        np.array(load), np.array(radius), np.array(load_ratio), np.array(moment_ratio), charts
    )
    compiled.derivers.append(deriver)
    compiled.judges.append(CraneOverloadTable(deriver, specs))
    compiled.bindings += bindings


def build_combined(book: Context, compiled: Compiled) -> None:
    specs: list[CombinedSpec] = []
    for number, rule in enumerate(book.config.rules):
        if not isinstance(rule, CombinedRuleConfig):
            continue
        ids = [c.channel for c in rule.all_of]
        specs.append(
            CombinedSpec(
                rule=number,
                columns=book.index.columns(ids),
                above=np.array([np.nan if c.above is None else c.above for c in rule.all_of]),
                below=np.array([np.nan if c.below is None else c.below for c in rule.all_of]),
                grade=rule.grade,
                max_age_s=rule.max_age_s,
            )
        )
        conditions = [
            {"channel": c.channel, "unit": book.unit(c.channel)}
            | ({"above": c.above} if c.above is not None else {"below": c.below})
            for c in rule.all_of
        ]
        compiled.bindings.append(
            Binding(ids[0], rule.id, book.unit(ids[0]), "combined", {"conditions": conditions})
        )
    if specs:
        compiled.judges.append(CombinedTable(specs))
