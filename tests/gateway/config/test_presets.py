"""Rule presets: each validates against its rule model, cites its clause, merges under the rule's keys."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from gateway.config.meaning import check_meaning
from gateway.config.models import SiteConfig
from gateway.config.presets import PRESETS, apply_presets, render_markdown
from gateway.config.rule_config import RuleConfig

DOCS = Path(__file__).parents[3] / "docs" / "presets.md"
RULE: TypeAdapter[Any] = TypeAdapter(RuleConfig)  # type: ignore[arg-type]
# Keys a rule of the type must give itself (they belong to one crane, not to a standard).
REQUIRED: dict[str, dict[str, Any]] = {"crane": {"radius": "crane.radius", "chart": [[10, 8], [50, 1.5]]}}
CITED = (
    "GB 50497-2019",
    "DBJ/T 15-197-2020",
    "GB 5144-2006",
    "JGJ 196-2010",
    "JGJ 276-2012",
    "JGJ 33",
    "CMA",
)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_validates_against_its_rule_model(name: str) -> None:
    preset = PRESETS[name]
    rules, problems = apply_presets(
        [{"id": "r", "channels": ["d.x"], "preset": name, **REQUIRED.get(preset.type, {})}]
    )
    assert problems == []
    rule = RULE.validate_python(rules[0])
    assert rule.type == preset.type
    assert rule.preset == name


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_cites_a_clause(name: str) -> None:
    preset = PRESETS[name]
    assert preset.name == name
    assert any(source in preset.clause for source in CITED), preset.clause


def test_pit_presets_take_the_strictest_end_at_70_85_100_percent() -> None:
    cumulative = PRESETS["gb50497.grade1.wall_top_horizontal.cumulative"].defaults
    assert cumulative["upper"] == {"yellow": 14.0, "orange": 17.0, "red": 20.0}
    assert cumulative["lower"] == {"yellow": -14.0, "orange": -17.0, "red": -20.0}
    rate = PRESETS["gb50497.grade1.wall_top_horizontal.rate"].defaults
    assert rate["upper"] == {"yellow": 1.4, "orange": 1.7, "red": 2.0}
    assert (rate["per"], rate["window_s"]) == ("day", 86400.0)
    assert (rate["sustained_share"], rate["sustained_days"]) == (0.7, 3)
    expected_red = {
        "gb50497.grade2.wall_top_horizontal_soil_nail.cumulative": 40.0,
        "gb50497.grade3.wall_top_vertical.cumulative": 30.0,
        "gb50497.grade2.deep_horizontal.cumulative": 40.0,
        "gb50497.grade3.column_vertical.cumulative": 20.0,
        "gb50497.grade3.surrounding_settlement.cumulative": 45.0,
        "gb50497.grade2.surrounding_settlement.rate": 3.0,
        "gb50497.grade3.wall_top_horizontal.rate": 3.0,
    }
    for name, red in expected_red.items():
        assert PRESETS[name].defaults["upper"]["red"] == red, name
    # The inclinometer row gives no rate.
    assert not any(n.startswith("gb50497.") and "deep_horizontal.rate" in n for n in PRESETS)
    items = {n.split(".")[2] for n in PRESETS if n.startswith("gb50497.")}
    assert items == {
        "wall_top_horizontal",
        "wall_top_horizontal_soil_nail",
        "wall_top_vertical",
        "deep_horizontal",
        "column_vertical",
        "surrounding_settlement",
    }
    for grade in (1, 2, 3):
        assert sum(n.startswith(f"gb50497.grade{grade}.") for n in PRESETS) == 11


def test_formwork_crane_and_wind_values() -> None:
    assert PRESETS["dbjt15-197.formwork.settlement"].defaults["upper"] == {"yellow": 6.4, "red": 8.0}
    assert PRESETS["dbjt15-197.formwork.horizontal"].defaults["upper"] == {"yellow": 9.6, "red": 12.0}
    assert PRESETS["dbjt15-197.formwork.tilt"].defaults["upper"] == {"yellow": 3.2, "red": 4.0}
    assert PRESETS["gb5144.crane.load"].defaults["ratios"] == {"yellow": 0.9, "orange": 1.0, "red": 1.1}
    wind = PRESETS["jgj276.wind"].defaults
    assert (wind["stop_lifting_level"], wind["working_limit"]) == (6, 20.0)
    assert PRESETS["jgj196.crane.stop_wind"].defaults["upper"]["red"] == 12.0
    assert PRESETS["cma.gale.mean"].defaults["upper"] == {"yellow": 17.2, "orange": 24.5, "red": 32.7}
    assert PRESETS["cma.gale.gust"].defaults["upper"] == {"yellow": 20.8, "orange": 28.5, "red": 37.0}


def test_rule_keys_win_and_mappings_merge_one_level() -> None:
    data = [
        {
            "id": "wall",
            "channels": ["pit.P1.disp_h"],
            "preset": "gb50497.grade1.wall_top_horizontal.cumulative",
            "upper": {"red": 25.0},
            "lower": None,
            "hysteresis": 0.5,
        }
    ]
    before = copy.deepcopy(data)
    rules, problems = apply_presets(data)
    assert problems == []
    assert data == before, "the input is not changed"
    assert rules[0]["type"] == "cumulative"
    assert rules[0]["upper"] == {"yellow": 14.0, "orange": 17.0, "red": 25.0}
    assert rules[0]["lower"] is None
    assert rules[0]["hysteresis"] == 0.5
    # The merged rule is a fresh copy: changing it leaves the preset alone.
    rules[0]["upper"]["yellow"] = 1.0
    assert PRESETS["gb50497.grade1.wall_top_horizontal.cumulative"].defaults["upper"]["yellow"] == 14.0


def test_unknown_preset_and_wrong_type_are_problems() -> None:
    data: list[Any] = [
        {"id": "a", "channels": ["x.y"], "preset": "gb50497.grade1.wall_top_horizontl.cumulative"},
        {"id": "b", "channels": ["x.y"], "preset": "gb5144.crane.load", "type": "threshold"},
        {"id": "c", "channels": ["x.y"], "type": "threshold", "upper": {"red": 1.0}},
        "not a mapping",
        {"id": "d", "channels": ["x.y"], "preset": 3},
    ]
    rules, problems = apply_presets(data)
    assert [i for i, _ in problems] == [0, 1]
    assert "unknown preset" in problems[0][1]
    assert "gb50497.grade1.wall_top_horizontal.cumulative" in problems[0][1]  # a suggestion
    assert "'crane'" in problems[1][1] and "'threshold'" in problems[1][1]
    assert rules == data


def test_a_site_built_from_presets_passes_the_checks_for_meaning() -> None:
    site = yaml.safe_load(
        """
site: {id: demo}
devices:
  - type: mqtt
    id: pit
    channels: {disp_h: {unit: mm}, settle: {unit: mm}, incl: {unit: mm}}
  - type: mqtt
    id: fw
    channels: {settle: {unit: mm}, tilt: {unit: "‰"}}
  - type: mqtt
    id: crane
    channels: {load: {unit: t}, radius: {unit: m}, tilt: {unit: "‰"}, wind_speed: {unit: m/s}}
"""
    )
    channel_of = {
        "cumulative": "pit.disp_h",
        "rate": "pit.settle",
        "threshold": "crane.wind_speed",
        "wind": "crane.wind_speed",
        "crane": "crane.load",
    }
    site["rules"] = [
        {
            "id": f"r{i}",
            "channels": [channel_of[p.type]],
            "preset": name,
            **({"radius": "crane.radius", "chart": [[10, 8], [50, 1.5]]} if p.type == "crane" else {}),
        }
        for i, (name, p) in enumerate(PRESETS.items())
    ]
    site["rules"], problems = apply_presets(site["rules"])
    assert problems == []
    config = SiteConfig.model_validate(site)
    assert check_meaning(config) == []


def test_docs_list_every_preset() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_markdown(), "regenerate docs/presets.md"
    text = DOCS.read_text(encoding="utf-8")
    for name, preset in PRESETS.items():
        assert f"`{name}`" in text
        assert preset.clause in text
