"""Meaning checks of the trend rule kinds (gateway.config.meaning_trend)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.meaning_trend import check_trend_rule
from gateway.config.rule_config import (
    AccelerationRuleConfig,
    FailureForecastRuleConfig,
    RateRuleConfig,
    ThresholdRuleConfig,
    TimeToLimitRuleConfig,
)

BASE = ("rules", 0)


def rate(**kw: Any) -> RateRuleConfig:
    args: dict[str, Any] = {"id": "r", "channels": ["a.b"], "type": "rate", "window_s": 86400.0}
    args.update(kw)
    return RateRuleConfig(**args)


def time_to_limit(**kw: Any) -> TimeToLimitRuleConfig:
    return TimeToLimitRuleConfig(id="t", channels=["a.b"], type="time_to_limit", **kw)


def forecast(**kw: Any) -> FailureForecastRuleConfig:
    return FailureForecastRuleConfig(id="f", channels=["a.b"], type="failure_forecast", **kw)


def paths(problems: list[Any]) -> list[tuple[Any, ...]]:
    return [p.path for p in problems]


def test_good_rules_pass() -> None:
    good = [
        rate(upper={"yellow": 2, "orange": 3, "red": 4}, lower={"yellow": -2}, sustained_share=0.7),
        AccelerationRuleConfig(id="a", channels=["a.b"], type="acceleration", window_s=3600.0),
        TimeToLimitRuleConfig(id="t", channels=["a.b"], type="time_to_limit", window_s=86400.0, limit=30.0,
                              horizons_s={"yellow": 604800, "orange": 259200, "red": 86400}),
        FailureForecastRuleConfig(id="f", channels=["a.b"], type="failure_forecast", window_s=86400.0,
                                  velocity_window_s=3600.0, horizons_s={"yellow": 86400, "red": 3600}),
    ]  # fmt: skip
    for rule in good:
        assert check_trend_rule(BASE, rule) == []


def test_other_kinds_are_not_judged_here() -> None:
    assert check_trend_rule(BASE, ThresholdRuleConfig(id="x", channels=["a.b"], type="threshold")) == []


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        (rate(), BASE),
        (rate(upper={"yellow": 3, "red": 2}), (*BASE, "upper", "red")),
        (rate(lower={"yellow": -3, "red": -2}), (*BASE, "lower", "red")),
        (rate(upper={"yellow": -1}), (*BASE, "upper")),
        (rate(upper={"yellow": 2}, hysteresis=2.0), (*BASE, "hysteresis")),
        (rate(upper={"yellow": 2}, window_s=10.0), (*BASE, "window_s")),
        (rate(upper={"yellow": 2}, window_s=3 * 86400.0, sustained_share=0.7), (*BASE, "window_s")),
        (rate(upper={"yellow": 2}, per="second", window_s=7 * 86400.0), (*BASE, "per")),
        (
            time_to_limit(window_s=3600.0, limit=30.0, horizons_s={"yellow": 3600, "red": 7200}),
            (*BASE, "horizons_s", "red"),
        ),
        (
            time_to_limit(window_s=60.0, limit=30.0, horizons_s={"yellow": 30 * 86400}),
            (*BASE, "horizons_s"),
        ),
        (
            forecast(window_s=3600.0, velocity_window_s=7200.0, horizons_s={"red": 600}),
            (*BASE, "velocity_window_s"),
        ),
        (
            forecast(window_s=3600.0, velocity_window_s=1800.0, horizons_s={"red": 600}),
            (*BASE, "min_samples"),
        ),
        (
            forecast(window_s=86400.0, velocity_window_s=3600.0, horizons_s={"red": -5}),
            (*BASE, "horizons_s", "red"),
        ),
        (
            AccelerationRuleConfig(
                id="a", channels=["a.b"], type="acceleration", window_s=30 * 86400.0, windows=5
            ),
            (*BASE, "windows"),
        ),
    ],
)
def test_problems_name_their_key(rule: Any, path: tuple[Any, ...]) -> None:
    assert path in paths(check_trend_rule(BASE, rule))
