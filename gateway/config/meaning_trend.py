"""Checks for meaning of the trend rules (rate, acceleration, time to limit, failure forecast).

Types alone accept a red limit below the yellow one, a red horizon farther than the yellow one or a
velocity window longer than the window it is fitted in; these rules could then never fire, or
fire on noise. ``check_trend_rule`` names each such problem with its key path.
"""

from __future__ import annotations

import itertools

from gateway.config.problem import KeyPath, Problem
from gateway.config.rule_config import (
    PER_SECONDS,
    AccelerationRuleConfig,
    FailureForecastRuleConfig,
    GradedLimits,
    RateRuleConfig,
    TimeToLimitRuleConfig,
)

TrendRule = RateRuleConfig | AccelerationRuleConfig | TimeToLimitRuleConfig | FailureForecastRuleConfig
NAMES = ("yellow", "orange", "red")
MIN_WINDOW_S = 60.0


def check_trend_rule(base: KeyPath, rule: object) -> list[Problem]:
    """Problems of one rule of a trend kind; other kinds give none."""
    if isinstance(rule, RateRuleConfig):
        return _check_rate(base, rule)
    if isinstance(rule, AccelerationRuleConfig):
        return _check_acceleration(base, rule)
    if isinstance(rule, TimeToLimitRuleConfig):
        return _check_time_to_limit(base, rule)
    if isinstance(rule, FailureForecastRuleConfig):
        return _check_failure_forecast(base, rule)
    return []


def _set(limits: GradedLimits) -> list[tuple[str, float]]:
    return [(name, v) for name, v in zip(NAMES, limits.as_tuple(), strict=True) if v is not None]


def _ordered(path: KeyPath, limits: GradedLimits, rising: bool, what: str) -> list[Problem]:
    problems: list[Problem] = []
    given = _set(limits)
    if not given:
        return [Problem(path, "give at least one of yellow, orange, red")]
    for (n1, v1), (n2, v2) in itertools.pairwise(given):
        if rising and not v1 < v2:
            problems.append(Problem((*path, n2), f"{n2} ({v2}) must be above {n1} ({v1}): {what}"))
        if not rising and not v1 > v2:
            problems.append(Problem((*path, n2), f"{n2} ({v2}) must be below {n1} ({v1}): {what}"))
    return problems


def _window(base: KeyPath, window_s: float) -> list[Problem]:
    if window_s < MIN_WINDOW_S:
        return [
            Problem(
                (*base, "window_s"),
                f"a trend window of {window_s} s is shorter than {MIN_WINDOW_S:.0f} s: "
                "the rate would follow the noise",
            )
        ]
    return []


def _check_rate(base: KeyPath, rule: RateRuleConfig) -> list[Problem]:
    problems = _window(base, rule.window_s)
    if rule.upper is None and rule.lower is None:
        problems.append(Problem(base, "a rate rule needs 'upper' or 'lower' limits"))
    if rule.upper is not None:
        problems += _ordered((*base, "upper"), rule.upper, True, "grades rise with the rate")
        if any(v <= 0 for _, v in _set(rule.upper)):
            problems.append(
                Problem(
                    (*base, "upper"), "upper rate limits must be above 0 (use 'lower' for falling values)"
                )
            )
    if rule.lower is not None:
        problems += _ordered((*base, "lower"), rule.lower, False, "lower limits fall with the grade")
        if any(v >= 0 for _, v in _set(rule.lower)):
            problems.append(
                Problem((*base, "lower"), "lower rate limits must be below 0 (use 'upper' for rising values)")
            )
    set_limits = [abs(v) for side in (rule.upper, rule.lower) if side is not None for _, v in _set(side)]
    if rule.hysteresis > 0 and set_limits and rule.hysteresis >= min(set_limits):
        problems.append(
            Problem(
                (*base, "hysteresis"),
                f"hysteresis ({rule.hysteresis}) reaches 0 from the smallest limit: "
                "an alarm could never clear",
            )
        )
    if rule.sustained_share is not None:
        if rule.upper is None and rule.lower is None:
            problems.append(Problem((*base, "sustained_share"), "the sustained rule needs a rate limit"))
        if rule.window_s > 86400.0:
            problems.append(
                Problem(
                    (*base, "window_s"),
                    "the sustained rule judges one rate per day: a window longer than a day "
                    "would count one day's movement on several days",
                )
            )
    per_window = rule.window_s / PER_SECONDS[rule.per]
    if per_window > 1000 or per_window < 1e-3:
        problems.append(
            Problem(
                (*base, "per"),
                f"the window is {per_window:g} {rule.per}s long: check 'per' against 'window_s'",
            )
        )
    return problems


def _check_acceleration(base: KeyPath, rule: AccelerationRuleConfig) -> list[Problem]:
    problems = _window(base, rule.window_s)
    if rule.window_s * rule.windows > 90 * 86400.0:
        problems.append(
            Problem(
                (*base, "windows"),
                f"{rule.windows} windows of {rule.window_s} s take more than 90 days to judge",
            )
        )
    return problems


def _horizons(base: KeyPath, horizons: GradedLimits) -> list[Problem]:
    path = (*base, "horizons_s")
    problems = _ordered(path, horizons, False, "the red horizon is the nearest")
    for name, v in _set(horizons):
        if v <= 0:
            problems.append(Problem((*path, name), "a horizon must be a positive number of seconds"))
    return problems


def _check_time_to_limit(base: KeyPath, rule: TimeToLimitRuleConfig) -> list[Problem]:
    problems = _window(base, rule.window_s) + _horizons(base, rule.horizons_s)
    given = [v for _, v in _set(rule.horizons_s)]
    if given and max(given) > 1000 * rule.window_s:
        problems.append(
            Problem(
                (*base, "horizons_s"),
                f"a horizon of {max(given):g} s extrapolates a {rule.window_s:g} s window more than "
                "1000 times: noise would be forecast as a trend",
            )
        )
    return problems


def _check_failure_forecast(base: KeyPath, rule: FailureForecastRuleConfig) -> list[Problem]:
    problems = _window(base, rule.window_s) + _horizons(base, rule.horizons_s)
    if not rule.velocity_window_s < rule.window_s:
        problems.append(
            Problem(
                (*base, "velocity_window_s"),
                f"the velocity window ({rule.velocity_window_s} s) must be shorter than the window "
                f"({rule.window_s} s) the inverse velocity is fitted over",
            )
        )
    elif rule.window_s / rule.velocity_window_s < rule.min_samples:
        problems.append(
            Problem(
                (*base, "min_samples"),
                f"the window holds only {rule.window_s / rule.velocity_window_s:.1f} independent "
                f"velocities, fewer than min_samples ({rule.min_samples}): make the window longer "
                "or the velocity window shorter",
            )
        )
    points = min(512.0, rule.window_s / (rule.velocity_window_s / 8))
    if rule.min_samples > points:
        problems.append(
            Problem(
                (*base, "min_samples"),
                f"min_samples ({rule.min_samples}) exceeds the {points:.0f} velocities the window can hold",
            )
        )
    return problems
