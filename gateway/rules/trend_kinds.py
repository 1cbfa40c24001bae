"""Builders for trend rules: rate (and GB 50497's sustained rate), acceleration, time to limit,
inverse-velocity failure forecast. One table per kind, rows in rule order.

``analytics.trend`` (and scipy.special, for the t quantile) is imported when the site has a trend rule,
while the rules are compiled: a site without one starts without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from analytics.table import Judge
from gateway.config import (
    PER_SECONDS,
    AccelerationRuleConfig,
    FailureForecastRuleConfig,
    RateRuleConfig,
    TimeToLimitRuleConfig,
)
from gateway.like_named import like_named
from gateway.rules.parts import Binding, Compiled, Context

if TYPE_CHECKING:
    from analytics import trend

S = TypeVar("S")
_HorizonRule = TypeVar("_HorizonRule", TimeToLimitRuleConfig, FailureForecastRuleConfig)

PER_SUFFIX = {"second": "/s", "minute": "/min", "hour": "/h", "day": "/d"}


def _utc_offset_s(timezone: str) -> float:
    """The site's offset from UTC (days for the sustained-rate rule start at local midnight)."""
    offset = datetime.now(UTC).astimezone(ZoneInfo(timezone)).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def _limits(values: tuple[float | None, float | None, float | None]) -> tuple[float, float, float]:
    a, b, c = (math.nan if v is None else float(v) for v in values)
    return (a, b, c)


def build_rate(book: Context, compiled: Compiled) -> None:
    rules = book.rules_of(RateRuleConfig)
    if not rules:
        return
    from analytics import trend

    specs: list[trend.RateSpec] = []
    names: list[tuple[str, str, RateRuleConfig]] = []  # rule id, unit suffix, rule per spec
    for number, rule, channels in rules:
        specs.append(
            _spec(
                book,
                trend.RateSpec,
                number,
                rule,
                channels,
                per_s=PER_SECONDS[rule.per],
                upper=_limits(rule.upper.as_tuple()) if rule.upper else trend.NAN3,
                lower=_limits(rule.lower.as_tuple()) if rule.lower else trend.NAN3,
            )
        )
        names.append((rule.id, PER_SUFFIX[rule.per], rule))
    if not specs:
        return
    table = trend.RateTable(specs, utc_offset_s=_utc_offset_s(book.config.site.timezone))
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
    rules = book.rules_of(AccelerationRuleConfig)
    if not rules:
        return
    from analytics import trend

    specs: list[trend.AccelerationSpec] = []
    for number, rule, channels in rules:
        specs.append(_spec(book, trend.AccelerationSpec, number, rule, channels, per_s=PER_SECONDS[rule.per]))
        unit_suffix = PER_SUFFIX[rule.per]
        facts = {"windows": rule.windows}
        compiled.bindings += [
            Binding(c, rule.id, book.unit(c) + unit_suffix, "acceleration", facts) for c in channels
        ]
    if specs:
        compiled.judges.append(trend.AccelerationTable(specs))


def build_time_to_limit(book: Context, compiled: Compiled) -> None:
    if not book.rules_of(TimeToLimitRuleConfig):
        return
    from analytics import trend

    _build_horizon_kind(
        book, compiled, TimeToLimitRuleConfig, trend.TimeToLimitSpec, trend.TimeToLimitTable, "time_to_limit"
    )


def build_failure_forecast(book: Context, compiled: Compiled) -> None:
    if not book.rules_of(FailureForecastRuleConfig):
        return
    from analytics import trend

    # The judged value is the time left before the forecast failure.
    _build_horizon_kind(
        book,
        compiled,
        FailureForecastRuleConfig,
        trend.FailureForecastSpec,
        trend.FailureForecastTable,
        "failure_forecast",
        "s",
    )


def _build_horizon_kind(
    book: Context,
    compiled: Compiled,
    kind: type[_HorizonRule],
    spec_type: Callable[..., object],
    table_type: Callable[[list[Any]], Judge],
    rule_kind: str,
    unit: str | None = None,
) -> None:
    """One table for the rules of ``kind``, alarmed by how soon (``horizons_s``) something comes;
    a binding per channel in the channel's unit, or in ``unit``."""
    specs = []
    for number, rule, channels in book.rules_of(kind):
        horizons = _limits(rule.horizons_s.as_tuple())
        specs.append(_spec(book, spec_type, number, rule, channels, horizons_s=horizons))
        compiled.bindings += [
            Binding(c, rule.id, book.unit(c) if unit is None else unit, rule_kind) for c in channels
        ]
    if specs:
        compiled.judges.append(table_type(specs))


def _spec(
    book: Context, spec_type: Callable[..., S], number: int, rule: object, channels: list[str], **given: Any
) -> S:
    """The rule's spec: its like-named fields, its number in the site file and its channels' columns."""
    return like_named(spec_type, rule, rule=number, channels=book.columns(channels), **given)
