"""Meaning checks of the wind, crane and combined rules (what their types alone cannot catch).

``check_site_rule`` is called once per rule with the rule's key path and the site's channel ids
(raw channels; the derived wind and crane channels are recognised by name). Unknown channels in a
rule's ``channels`` patterns are reported by the general rule check, not here.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from analytics.wind import level_floor
from gateway.config.channel_ids import match_channels
from gateway.config.problem import KeyPath, Problem
from gateway.config.rule_config import CombinedRuleConfig, CraneRuleConfig, WindRuleConfig

WIND_SOURCE = "wind_speed"
WIND_DERIVED = ("wind_3s", "wind_2min", "wind_10min", "gust", "wind_level")
CRANE_SOURCE = "load"
CRANE_DERIVED = ("load_ratio", "moment_ratio")
_PATTERN_CHARS = "*?["


def derived_channels(channel_ids: Sequence[str]) -> list[str]:
    """The derived channel ids a site can have: wind means of every ``<dev>.wind_speed`` channel,
    ratios of every ``<dev>.load`` channel."""
    out: list[str] = []
    for cid in channel_ids:
        device, _, quantity = cid.rpartition(".")
        if quantity == WIND_SOURCE:
            out += [f"{device}.{q}" for q in WIND_DERIVED]
        elif quantity == CRANE_SOURCE:
            out += [f"{device}.{q}" for q in CRANE_DERIVED]
    return out


def check_site_rule(base: KeyPath, rule: object, channel_ids: list[str]) -> list[Problem]:
    """Problems of one wind, crane or combined rule; other rule kinds give none."""
    if isinstance(rule, WindRuleConfig):
        return _check_wind(base, rule, channel_ids)
    if isinstance(rule, CraneRuleConfig):
        return _check_crane(base, rule, channel_ids)
    if isinstance(rule, CombinedRuleConfig):
        return _check_combined(base, rule, channel_ids)
    return []


def _check_sources(
    base: KeyPath,
    patterns: list[str],
    channel_ids: list[str],
    quantity: str,
    derived: tuple[str, ...],
    what: str,
) -> tuple[list[Problem], list[str]]:
    """Every matched channel must be a ``<dev>.<quantity>`` channel whose derived ids are free."""
    problems: list[Problem] = []
    matched: list[str] = []
    known = set(channel_ids)
    for j, pattern in enumerate(patterns):
        for cid in match_channels(pattern, channel_ids):
            matched.append(cid)
            device, _, q = cid.rpartition(".")
            if q != quantity:
                problems.append(
                    Problem(
                        (*base, "channels", j),
                        f"{cid!r} is not a {what} channel: a {what} rule judges <device>.{quantity} channels",
                    )
                )
                continue
            taken = [f"{device}.{d}" for d in derived if f"{device}.{d}" in known]
            if taken:
                problems.append(
                    Problem(
                        (*base, "channels", j),
                        f"the derived channel {taken[0]!r} of {cid!r} clashes with a configured channel",
                    )
                )
    return problems, matched


def _check_wind(base: KeyPath, rule: WindRuleConfig, channel_ids: list[str]) -> list[Problem]:
    problems, _ = _check_sources(base, rule.channels, channel_ids, WIND_SOURCE, WIND_DERIVED, "wind")
    if rule.watch_level > rule.stop_lifting_level:
        problems.append(
            Problem(
                (*base, "watch_level"),
                f"watch_level ({rule.watch_level}) must not be above stop_lifting_level "
                f"({rule.stop_lifting_level}): grades rise with the wind",
            )
        )
    stop = level_floor(rule.stop_lifting_level)
    if not rule.working_limit > stop:
        problems.append(
            Problem(
                (*base, "working_limit"),
                f"working_limit ({rule.working_limit} m/s) must be above the stop-lifting level's lower "
                f"bound ({stop} m/s for level {rule.stop_lifting_level}): grades rise with the wind",
            )
        )
    return problems


def _check_crane(base: KeyPath, rule: CraneRuleConfig, channel_ids: list[str]) -> list[Problem]:
    problems, matched = _check_sources(
        base, rule.channels, channel_ids, CRANE_SOURCE, CRANE_DERIVED, "crane load"
    )
    if any(c in rule.radius for c in _PATTERN_CHARS):
        problems.append(Problem((*base, "radius"), "name one radius channel, not a pattern"))
    elif rule.radius not in channel_ids:
        problems.append(
            Problem((*base, "radius"), f"unknown channel {rule.radius!r}: no channel of the site")
        )
    elif rule.radius in matched:
        problems.append(Problem((*base, "radius"), "the radius channel cannot also be a load channel"))
    if len(set(matched)) > 1:
        problems.append(
            Problem(
                (*base, "channels"),
                f"a crane rule judges one crane: its channels match {len(set(matched))} load channels "
                "but it names one radius channel and one load chart",
            )
        )
    for i, ((r1, _), (r2, _)) in enumerate(itertools.pairwise(rule.chart)):
        if not r1 < r2:
            problems.append(
                Problem(
                    (*base, "chart", i + 1, 0),
                    f"chart radii must increase strictly: {r2} m follows {r1} m",
                )
            )
    problems += _check_chart(base, rule.chart)
    limits = [
        (n, v)
        for n, v in zip(("yellow", "orange", "red"), rule.ratios.as_tuple(), strict=True)
        if v is not None
    ]
    if not limits:
        problems.append(Problem((*base, "ratios"), "give at least one of yellow, orange, red"))
    for (n1, v1), (n2, v2) in itertools.pairwise(limits):
        if not v1 < v2:
            problems.append(
                Problem(
                    (*base, "ratios", n2),
                    f"{n2} ({v2}) must be above {n1} ({v1}): grades rise with the ratio",
                )
            )
    for name, value in limits:
        if not value > 0:
            problems.append(
                Problem((*base, "ratios", name), f"a load ratio limit must be positive, not {value}")
            )
    return problems


def _check_chart(base: KeyPath, chart: list[tuple[float, float]]) -> list[Problem]:
    """A load chart a limiter could be certified with: positive radii and rated loads, and a rated
    load that never rises as the hook goes out (a rising one would let the crane lift more, further
    out, than it may nearer in: a typo in the chart)."""
    problems: list[Problem] = []
    for i, (radius, rated) in enumerate(chart):
        if not radius > 0:
            problems.append(
                Problem((*base, "chart", i, 0), f"a chart radius must be positive, not {radius} m")
            )
        if not rated > 0:
            problems.append(
                Problem(
                    (*base, "chart", i, 1), f"the rated load at {radius} m must be positive, not {rated} t"
                )
            )
    for i, ((r1, q1), (r2, q2)) in enumerate(itertools.pairwise(chart)):
        if r1 < r2 and q2 > q1 > 0:
            problems.append(
                Problem(
                    (*base, "chart", i + 1, 1),
                    f"the rated load must not rise with the radius: {q2} t at {r2} m is more than "
                    f"{q1} t at {r1} m",
                )
            )
    return problems


def _check_combined(base: KeyPath, rule: CombinedRuleConfig, channel_ids: list[str]) -> list[Problem]:
    problems: list[Problem] = []
    known = set(channel_ids) | set(derived_channels(channel_ids))
    for i, cond in enumerate(rule.all_of):
        path = (*base, "all_of", i)
        if any(c in cond.channel for c in _PATTERN_CHARS):
            problems.append(Problem((*path, "channel"), "a condition names one channel, not a pattern"))
        elif cond.channel not in known:
            problems.append(
                Problem((*path, "channel"), f"unknown channel {cond.channel!r}: no channel of the site")
            )
        if (cond.above is None) == (cond.below is None):
            problems.append(Problem(path, "give exactly one of 'above' and 'below'"))
    return problems
