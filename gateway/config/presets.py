"""Named presets that fill a rule's defaults from the standards (``preset: NAME`` in a rule).

A preset gives the numbers a standard sets for one monitored item; the site file names it and
overrides what the design drawing says otherwise. The rule's own keys win; nested mappings (``upper``,
``lower``, ``ratios``) are merged one level, so ``upper: {red: 25}`` keeps the preset's yellow and
orange. Every preset cites the clause it follows; ``docs/presets.md`` lists them all.

Foundation pit values (GB 50497-2019 Table 8.0.4) are ranges the designer picks from; the presets take
the strictest end of each range as the control value, and grade at 70 / 85 / 100 % of it. The share
of the excavation depth H (the other half of the table's "smaller of") needs H, so it is not applied:
set the control value from the drawing where H governs. Displacements are limited in both directions
(sign conventions differ between instruments): set ``lower: null`` for a one-sided limit.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

YELLOW, ORANGE, RED = 0.70, 0.85, 1.00  # shares of the control value (DOMAIN: warning grades)


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    clause: str
    type: str  # the rule type it fills
    defaults: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def _graded(control: float, shares: tuple[float | None, float | None, float | None]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, share in zip(("yellow", "orange", "red"), shares, strict=True):
        if share is not None:
            out[name] = round(control * share, 6)
    return out


def _both_ways(
    control: float, shares: tuple[float | None, float | None, float | None] = (YELLOW, ORANGE, RED)
) -> dict[str, Any]:
    return {"upper": _graded(control, shares), "lower": _graded(-control, shares)}


# GB 50497-2019 Table 8.0.4: item -> (description, {pit grade: (cumulative mm, rate mm/d or None)}),
# the strictest end of each range.
_PIT_ITEMS: dict[str, tuple[str, dict[int, tuple[float, float | None]]]] = {
    "wall_top_horizontal": (
        "wall-top horizontal displacement, pile / diaphragm / sheet / SMW wall",
        {1: (20.0, 2.0), 2: (30.0, 2.0), 3: (40.0, 3.0)},
    ),
    "wall_top_horizontal_soil_nail": (
        "wall-top horizontal displacement, soil-nail / cement-soil wall",
        {1: (30.0, 3.0), 2: (40.0, 4.0), 3: (50.0, 5.0)},
    ),
    "wall_top_vertical": (
        "wall-top vertical displacement, pile / diaphragm / sheet wall",
        {1: (10.0, 2.0), 2: (20.0, 2.0), 3: (30.0, 3.0)},
    ),
    "deep_horizontal": (
        "deep horizontal displacement (inclinometer)",
        {1: (30.0, None), 2: (40.0, None), 3: (50.0, None)},
    ),
    "column_vertical": (
        "column vertical displacement",
        {1: (20.0, 2.0), 2: (20.0, 2.0), 3: (20.0, 2.0)},
    ),
    "surrounding_settlement": (
        "surrounding ground settlement",
        {1: (25.0, 2.0), 2: (35.0, 3.0), 3: (45.0, 4.0)},
    ),
}
_GB50497 = "GB 50497-2019 Table 8.0.4"
_PIT_GRADE_NAMES = {1: "一级", 2: "二级", 3: "三级"}


def _pit_presets() -> list[Preset]:
    out: list[Preset] = []
    for item, (what, by_grade) in _PIT_ITEMS.items():
        for grade, (cumulative, rate) in by_grade.items():
            base = f"gb50497.grade{grade}.{item}"
            where = f"{_GB50497}, {what}, pit grade {grade} ({_PIT_GRADE_NAMES[grade]})"
            out.append(
                Preset(
                    f"{base}.cumulative",
                    f"{where}: cumulative {cumulative:g} mm (strictest end of the range)",
                    "cumulative",
                    _both_ways(cumulative),
                    "graded at 70/85/100 % of the control value; the %H limit is not applied",
                )
            )
            if rate is not None:
                out.append(
                    Preset(
                        f"{base}.rate",
                        f"{where}: rate {rate:g} mm/d; note to Table 8.0.4: "
                        "alarm when above 70 % of it on 3 consecutive days",
                        "rate",
                        {
                            "window_s": 86400.0,
                            "per": "day",
                            **_both_ways(rate),
                            "sustained_share": 0.7,
                            "sustained_days": 3,
                            "sustained_grade": 2,
                        },
                        "graded at 70/85/100 % of the rate limit; 70 % on 3 days in a row raises orange",
                    )
                )
    return out


_DBJ = "DBJ/T 15-197-2020 (Guangdong, real-time monitoring of high formwork)"
_FORMWORK_SHARES = (0.8, None, 1.0)  # pre-warning 80 %, danger alarm at the alarm value


def _formwork_presets() -> list[Preset]:
    items = (
        ("settlement", 8.0, "mm", "settlement alarm value 8 mm"),
        ("horizontal", 12.0, "mm", "horizontal displacement alarm value 12 mm"),
        ("tilt", 4.0, "‰", "pole tilt alarm value 4 ‰ (channel in ‰, i.e. mm/m)"),
    )
    return [
        Preset(
            f"dbjt15-197.formwork.{name}",
            f"{_DBJ}: {what}; pre-warning at 80 % of the alarm value",
            "cumulative",
            _both_ways(value, _FORMWORK_SHARES),
            "yellow = pre-warning (80 %), red = danger alarm (100 %); the standard has no third level, "
            "so orange is unset",
        )
        for name, value, _unit, what in items
    ]


def _crane_presets() -> list[Preset]:
    return [
        Preset(
            "gb5144.crane.load",
            "GB 5144-2006 §6.1.2 (hoisting cut between 100 % and 110 % of rated load / moment); "
            "90 % pre-warning is common practice (vendors), not a standard",
            "crane",
            {"ratios": {"yellow": 0.9, "orange": 1.0, "red": 1.1}, "hysteresis": 0.02},
            "ratios of load and load moment to the chart's rated values",
        ),
        Preset(
            "jgj196.crane.tilt_free_standing",
            "JGJ 196-2010: tower tilt ≤ 4/1000 free-standing or above the top tie",
            "threshold",
            {**_both_ways(4.0), "hysteresis": 0.1},
            "channel in ‰; graded at 70/85/100 %",
        ),
        Preset(
            "jgj196.crane.tilt_below_tie",
            "JGJ 196-2010: tower tilt ≤ 2/1000 below the top tie",
            "threshold",
            {**_both_ways(2.0), "hysteresis": 0.05},
            "channel in ‰; graded at 70/85/100 %",
        ),
    ]


# GB/T 28591-2012 lower bounds of the Beaufort levels, m/s.
_LEVEL = {6: 10.8, 7: 13.9, 8: 17.2, 9: 20.8, 10: 24.5, 11: 28.5, 12: 32.7, 13: 37.0}


def _wind_presets() -> list[Preset]:
    return [
        Preset(
            "jgj276.wind",
            "JGJ 276-2012 §3.0.12 (no lifting at level 6 or more); levels GB/T 28591-2012; "
            "working-limit wind 20 m/s at the jib as crane anemometers commonly alarm (GB 5144-2006)",
            "wind",
            {
                "mean": "2min",
                "watch_level": 5,
                "stop_lifting_level": 6,
                "working_limit": 20.0,
                "hysteresis": 0.5,
            },
        ),
        Preset(
            "jgj196.crane.stop_wind",
            "JGJ 196-2010: stop tower crane work in wind of 12 m/s or more (as commonly cited)",
            "threshold",
            {"upper": _graded(12.0, (YELLOW, ORANGE, RED)), "hysteresis": 0.5},
            "on the 3-s or 2-min wind at the jib; graded at 70/85/100 %",
        ),
        Preset(
            "jgj33.crane.erection_wind",
            "JGJ 33-2012: no crane erection or dismantling in wind of 9 m/s or more (as commonly cited)",
            "threshold",
            {"upper": _graded(9.0, (YELLOW, ORANGE, RED)), "hysteresis": 0.5},
            "graded at 70/85/100 %",
        ),
        Preset(
            "cma.gale.mean",
            "CMA gale warning signals (大风预警信号), observed mean wind: yellow level 8, "
            "orange level 10, red level 12 (GB/T 28591-2012 m/s)",
            "threshold",
            {"upper": {"yellow": _LEVEL[8], "orange": _LEVEL[10], "red": _LEVEL[12]}, "hysteresis": 0.5},
            "on a 2-min or 10-min mean channel; the CMA blue signal (level 6) is the wind rule's "
            "stop-lifting level",
        ),
        Preset(
            "cma.gale.gust",
            "CMA gale warning signals (大风预警信号), observed gust: yellow level 9, "
            "orange level 11, red level 13 (GB/T 28591-2012 m/s)",
            "threshold",
            {"upper": {"yellow": _LEVEL[9], "orange": _LEVEL[11], "red": _LEVEL[13]}, "hysteresis": 0.5},
            "on a gust (max of 3-s means) channel",
        ),
    ]


PRESETS: dict[str, Preset] = {
    p.name: p for p in (*_pit_presets(), *_formwork_presets(), *_crane_presets(), *_wind_presets())
}


def apply_presets(rules_data: list[Any]) -> tuple[list[Any], list[tuple[int, str]]]:
    """Fill each rule's ``preset`` defaults under its own keys.

    Returns the rules (new dicts where a preset applied; the input is not changed) and problems as
    (rule index, message) for the loader to place at ``rules[i].preset``. A rule without ``type``
    takes its preset's; a rule whose type differs from its preset's is a problem. Entries that are
    not mappings, or whose ``preset`` is not a string, pass through for validation to report.
    """
    out: list[Any] = []
    problems: list[tuple[int, str]] = []
    for i, rule in enumerate(rules_data):
        name = rule.get("preset") if isinstance(rule, Mapping) else None
        if not isinstance(name, str):
            out.append(rule)
            continue
        preset = PRESETS.get(name)
        if preset is None:
            close = difflib.get_close_matches(name, PRESETS, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; see docs/presets.md"
            problems.append((i, f"unknown preset {name!r}{hint}"))
            out.append(rule)
            continue
        rule_type = rule.get("type", preset.type)
        if rule_type != preset.type:
            problems.append((i, f"preset {name!r} is for {preset.type!r} rules, not {rule_type!r}"))
            out.append(rule)
            continue
        out.append(merge_defaults(preset, rule))
    return out, problems


def merge_defaults(preset: Preset, rule: Mapping[str, Any]) -> dict[str, Any]:
    """The preset's defaults under the rule's keys; mappings on both sides merged one level."""
    merged: dict[str, Any] = copy.deepcopy(preset.defaults)
    merged["type"] = preset.type
    for key, value in rule.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = {**below, **value}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def render_markdown() -> str:
    """docs/presets.md, from the presets themselves (a test keeps the file equal to this)."""
    lines = [
        "# Rule presets",
        "",
        "A rule names a preset with `preset: NAME`; the preset fills the rule's defaults and the rule's",
        "own keys win (`upper`, `lower`, `ratios` are merged one level, so `upper: {red: 25}` keeps the",
        "preset's yellow and orange). A rule without `type` takes the preset's. Generated from",
        "`gateway/config/presets.py` by `render_markdown()`; do not edit by hand.",
        "",
        "Foundation pit values are ranges in GB 50497-2019 Table 8.0.4; the presets take the strictest",
        "end of each range as the control value and grade at 70 / 85 / 100 % of it. The share of the",
        "excavation depth H is not applied (it needs H): where H governs, set the limits from the",
        "drawing. Displacement limits apply in both directions; set `lower: null` for one side only.",
        "",
        "Example:",
        "",
        "```yaml",
        "rules:",
        "  - id: pit-wall-top",
        "    preset: gb50497.grade1.wall_top_horizontal.cumulative",
        '    channels: ["pit.P*.disp_h"]',
        "    upper: {red: 25.0}   # the designer's control value; yellow and orange stay 14 and 17",
        "```",
        "",
        "| preset | type | defaults | clause | note |",
        "|---|---|---|---|---|",
    ]
    for p in PRESETS.values():
        defaults = ", ".join(f"`{k}: {_flow(v)}`" for k, v in p.defaults.items())
        lines.append(f"| `{p.name}` | {p.type} | {defaults} | {p.clause} | {p.note} |")
    return "\n".join(lines) + "\n"


def _flow(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    return f"{value:g}" if isinstance(value, float) else str(value)
