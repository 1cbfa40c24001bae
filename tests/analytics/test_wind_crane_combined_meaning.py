"""Meaning checks of wind, crane and combined rules (gateway.config.meaning_site_rules)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.meaning_site_rules import check_site_rule, derived_channels
from gateway.config.rule_config import (
    CombinedRuleConfig,
    CraneRuleConfig,
    ThresholdRuleConfig,
    WindRuleConfig,
)

CHANNELS = ["anemo1.wind_speed", "crane1.load", "crane1.radius", "crane2.load", "pit.P1.disp_h"]
BASE = ("rules", 3)


def messages(rule: object, channels: list[str] = CHANNELS) -> list[tuple[tuple[Any, ...], str]]:
    return [(p.path, p.message) for p in check_site_rule(BASE, rule, channels)]


def wind(**kw: Any) -> WindRuleConfig:
    return WindRuleConfig(id="w", type="wind", channels=kw.pop("channels", ["anemo1.wind_speed"]), **kw)


def crane(**kw: Any) -> CraneRuleConfig:
    kw.setdefault("chart", [[2.5, 10.0], [50.0, 2.0]])
    return CraneRuleConfig(
        id="c",
        type="crane",
        channels=kw.pop("channels", ["crane1.load"]),
        radius=kw.pop("radius", "crane1.radius"),
        **kw,
    )


def combined(all_of: list[dict[str, Any]]) -> CombinedRuleConfig:
    return CombinedRuleConfig(id="x", type="combined", channels=["crane1.load"], all_of=all_of)


def test_good_rules_have_no_problems() -> None:
    assert messages(wind()) == []
    assert messages(wind(watch_level=6, stop_lifting_level=6, mean="10min")) == []
    assert messages(crane()) == []
    assert (
        messages(
            combined(
                [{"channel": "crane1.load", "above": 0.5}, {"channel": "anemo1.wind_2min", "above": 10.8}]
            )
        )
        == []
    )
    assert messages(ThresholdRuleConfig(id="t", type="threshold", channels=["crane1.load"])) == []


def test_wind_levels_and_limit_in_order() -> None:
    got = messages(wind(watch_level=7, stop_lifting_level=6, working_limit=10.0))
    assert [p for p, _ in got] == [(*BASE, "watch_level"), (*BASE, "working_limit")]
    assert "10.8 m/s" in got[1][1]


def test_wind_rule_needs_wind_speed_channels() -> None:
    got = messages(wind(channels=["anemo1.wind_speed", "crane1.*"]))
    assert [p for p, _ in got] == [(*BASE, "channels", 1)] * 2
    clash = messages(wind(), [*CHANNELS, "anemo1.gust"])
    assert clash and "anemo1.gust" in clash[0][1]


def test_crane_chart_radii_increase() -> None:
    got = messages(crane(chart=[[2.5, 10.0], [20.0, 5.0], [20.0, 4.0], [10.0, 3.0]]))
    assert [p for p, _ in got] == [(*BASE, "chart", 2, 0), (*BASE, "chart", 3, 0)]


@pytest.mark.parametrize(
    ("kw", "path"),
    [
        ({"radius": "crane1.radiu"}, (*BASE, "radius")),
        ({"radius": "crane1.*"}, (*BASE, "radius")),
        ({"radius": "crane1.load"}, (*BASE, "radius")),
        ({"channels": ["crane*.load"]}, (*BASE, "channels")),
        ({"channels": ["crane1.radius"], "radius": "crane1.load"}, (*BASE, "channels", 0)),
        ({"ratios": {"yellow": 1.0, "orange": 0.9}}, (*BASE, "ratios", "orange")),
        ({"ratios": {}}, (*BASE, "ratios")),
        ({"ratios": {"yellow": -0.5}}, (*BASE, "ratios", "yellow")),
    ],
)
def test_crane_problems(kw: dict[str, Any], path: tuple[Any, ...]) -> None:
    assert path in [p for p, _ in messages(crane(**kw))]


def test_combined_conditions() -> None:
    got = messages(
        combined([
            {"channel": "crane1.load", "above": 0.5, "below": 3.0},
            {"channel": "crane1.load"},
            {"channel": "anemo2.wind_2min", "above": 1.0},
            {"channel": "crane*.load", "above": 1.0},
            {"channel": "crane2.load_ratio", "above": 0.9},
        ])
    )  # fmt: skip
    assert [p for p, _ in got] == [
        (*BASE, "all_of", 0),
        (*BASE, "all_of", 1),
        (*BASE, "all_of", 2, "channel"),
        (*BASE, "all_of", 3, "channel"),
    ]


def test_derived_channel_names() -> None:
    wind = ["a.wind_3s", "a.wind_2min", "a.wind_10min", "a.gust", "a.wind_level"]
    assert derived_channels(["a.wind_speed", "c.load", "c.radius"]) == [
        *wind,
        "c.load_ratio",
        "c.moment_ratio",
    ]
