"""Builders for trend rules: rate (and GB 50497's sustained rate), acceleration, time to limit,
inverse-velocity failure forecast. One table per kind, rows in rule order."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from analytics.trend import (
    NAN3,
    AccelerationSpec,
    AccelerationTable,
    FailureForecastSpec,
    FailureForecastTable,
    RateSpec,
    RateTable,
    TimeToLimitSpec,
    TimeToLimitTable,
)
from gateway.config import (
    PER_SECONDS,
    AccelerationRuleConfig,
    FailureForecastRuleConfig,
    RateRuleConfig,
    TimeToLimitRuleConfig,
)
from gateway.rules.parts import Binding, Compiled, Context

PER_SUFFIX = {"second": "/s", "minute": "/min", "hour": "/h", "day": "/d"}


def _utc_offset_s(timezone: str) -> float:
    """The site's offset from UTC (days for the sustained-rate rule start at local midnight)."""
    offset = datetime.now(UTC).astimezone(ZoneInfo(timezone)).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def _limits(values: tuple[float | None, float | None, float | None]) -> tuple[float, float, float]:
    a, b, c = (math.nan if v is None else float(v) for v in values)
    return (a, b, c)


def build_rate(book: Context, compiled: Compiled) -> None:
    specs: list[RateSpec] = []
    names: list[tuple[str, str, RateRuleConfig]] = []  # rule id, unit suffix, rule per spec
    for number, rule, channels in book.rules_of(RateRuleConfig):
        specs.append(
            RateSpec(
                rule=number,
                channels=book.columns(channels),
                window_s=rule.window_s,
                per_s=PER_SECONDS[rule.per],
                upper=_limits(rule.upper.as_tuple()) if rule.upper else NAN3,
                lower=_limits(rule.lower.as_tuple()) if rule.lower else NAN3,
                hysteresis=rule.hysteresis,
                min_samples=rule.min_samples,
                hampel_k=rule.hampel_k,
                sustained_share=rule.sustained_share,
                sustained_days=rule.sustained_days,
                sustained_grade=rule.sustained_grade,
            )
        )
        names.append((rule.id, PER_SUFFIX[rule.per], rule))
    if not specs:
        return
    table = RateTable(specs, utc_offset_s=_utc_offset_s(book.config.site.timezone))
    rule_ids = {spec.rule: name for spec, name in zip(specs, names, strict=True)}
    for row in range(len(table.channel)):
        channel = book.index.ids[int(table.channel[row])]
        rule_id, suffix, rate_rule = rule_ids[int(table.rule[row])]
        sustained = bool(table.is_sustained[row])
        name = f"{rule_id}.sustained" if sustained else rule_id
        facts: dict[str, object] = {"sustained": sustained}
        if sustained:
            facts |= {"days": rate_rule.sustained_days, "share": rate_rule.sustained_share}
        compiled.bindings.append(Binding(channel, name, book.unit(channel) + suffix, "rate", facts))
    compiled.judges.append(table)


def build_acceleration(book: Context, compiled: Compiled) -> None:
    specs: list[AccelerationSpec] = []
    for number, rule, channels in book.rules_of(AccelerationRuleConfig):
        specs.append(
            AccelerationSpec(
                rule=number,
                channels=book.columns(channels),
                window_s=rule.window_s,
                per_s=PER_SECONDS[rule.per],
                windows=rule.windows,
                min_rate=rule.min_rate,
                grade=rule.grade,
            )
        )
        unit_suffix = PER_SUFFIX[rule.per]
        facts = {"windows": rule.windows}
        compiled.bindings += [
            Binding(c, rule.id, book.unit(c) + unit_suffix, "acceleration", facts) for c in channels
        ]
    if specs:
        compiled.judges.append(AccelerationTable(specs))


def build_time_to_limit(book: Context, compiled: Compiled) -> None:
    specs: list[TimeToLimitSpec] = []
    for number, rule, channels in book.rules_of(TimeToLimitRuleConfig):
        specs.append(
            TimeToLimitSpec(
                rule=number,
                channels=book.columns(channels),
                window_s=rule.window_s,
                limit=rule.limit,
                horizons_s=_limits(rule.horizons_s.as_tuple()),
                min_samples=rule.min_samples,
                hampel_k=rule.hampel_k,
            )
        )
        compiled.bindings += [Binding(c, rule.id, book.unit(c), "time_to_limit") for c in channels]
    if specs:
        compiled.judges.append(TimeToLimitTable(specs))


def build_failure_forecast(book: Context, compiled: Compiled) -> None:
    specs: list[FailureForecastSpec] = []
    for number, rule, channels in book.rules_of(FailureForecastRuleConfig):
        specs.append(
            FailureForecastSpec(
                rule=number,
                channels=book.columns(channels),
                window_s=rule.window_s,
                velocity_window_s=rule.velocity_window_s,
                horizons_s=_limits(rule.horizons_s.as_tuple()),
                min_r2=rule.min_r2,
                min_samples=rule.min_samples,
            )
        )
        # The judged value is the time left before the forecast failure.
        compiled.bindings += [Binding(c, rule.id, "s", "failure_forecast") for c in channels]
    if specs:
        compiled.judges.append(FailureForecastTable(specs))
