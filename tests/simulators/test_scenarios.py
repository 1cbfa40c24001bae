"""Scenarios: determinism, loader errors, and every shipped scenario scored by the real analytics."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gateway.config import SiteConfig
from simulators.generate import Frame, readings
from simulators.scenario import (
    Scenario,
    ScenarioError,
    find_scenario,
    list_scenarios,
    load_scenario,
    load_site,
)
from tests.simulators.scoring import PLAN_SCENARIOS, START, describe, run_frames, score

SHIPPED = PLAN_SCENARIOS | {"demo"}


def load(name: str) -> tuple[Scenario, SiteConfig]:
    scenario = load_scenario(find_scenario(name))
    return scenario, load_site(scenario)


def digest(frames: list[Frame]) -> str:
    h = hashlib.sha256()
    for frame in frames:
        h.update(frame.to_json().encode())
        h.update(b"\n")
    return h.hexdigest()


def test_the_required_scenarios_ship() -> None:
    assert set(list_scenarios()) >= SHIPPED


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_scenario_ground_truth_holds_in_the_real_analytics(name: str) -> None:
    scenario, site = load(name)
    events = run_frames(readings(scenario, site), site)
    result = score(scenario, events)
    assert result.passed, f"{result.misses}\n{result.false_alarms}\n{describe(events)}"
    assert result.detected == result.expected == len(scenario.truth)


@pytest.mark.parametrize("name", ["storm-day", "sensor-faults"])
def test_same_seed_same_bytes(name: str) -> None:
    scenario, site = load(name)
    first = list(readings(scenario, site))
    second = list(readings(scenario, site))
    assert digest(first) == digest(second)
    assert [f.t_s for f in first] == sorted(f.t_s for f in first)
    other = scenario.model_copy(update={"seed": scenario.seed + 1})
    assert digest(list(readings(other, site))) != digest(first)


def test_line_faults_are_frames_without_values() -> None:
    scenario, site = load("sensor-faults")
    faults = {(f.device, f.fault) for f in readings(scenario, site) if f.fault is not None}
    assert {("fw1.S3", "silent"), ("fw1.S4", "cable_cut"), ("pit.P1", "offline"), ("crane1", "crc")} <= faults


def test_formwork_trend_rule_warns_before_the_settlement_alarm_value() -> None:
    scenario, site = load("formwork-collapse-precursor")
    frames = list(readings(scenario, site))
    events = run_frames(frames, site)
    channel = "fw1.S2.settlement"
    reaches_limit = min(
        f.t_s for f in frames if f.device == "fw1.S2" and f.values and (f.values["settlement"] or 0) >= 8.0
    )
    threshold_red = min(
        e.ts - START
        for e in events
        if e.channel == channel and e.rule == "formwork_settlement" and e.grade == 3
    )
    trend = {
        rule: min(
            e.ts - START for e in events if e.channel == channel and e.rule == rule and e.state == "raised"
        )
        for rule in ("formwork_time_to_limit", "formwork_settlement_rate")
    }
    for rule, t in trend.items():
        lead_min = (reaches_limit - t) / 60.0
        print(f"{rule} warned {lead_min:.1f} min before the settlement reached 8 mm")
        assert t < reaches_limit <= threshold_red
        assert lead_min >= 5.0


def test_storm_day_shows_its_three_alarms_within_two_minutes() -> None:
    scenario, site = load("storm-day")
    assert scenario.time_scale == 1.0
    events = run_frames(readings(scenario, site), site)
    first: dict[str, float] = {}
    for e in events:
        if e.state == "raised":
            first.setdefault(e.rule, e.ts - START)
    assert first["wind_levels"] <= 120
    assert min(first["lifting_in_wind"], first["wind_lifting"]) <= 120
    assert first["lifting_in_wind"] <= 120
    assert min(t for rule, t in first.items() if rule.startswith("sensors_alive.")) <= 120


# --- bad input -------------------------------------------------------------------------------------

GOOD = """\
name: {name}
seed: 1
duration_s: 600
devices:
  anemo1: {{model: anemometer, params: {{mean: 4.0}}}}
events:
  - {{kind: spike, device: fw1.S1, at_s: 100}}
truth:
  - {{channel: fw1.S1.settlement, rule: slow_sensors.spike, grade: 1, window_s: [100, 200]}}
"""


def write(tmp_path: Path, text: str, name: str = "case") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return caught.value.problems


def test_a_good_file_loads(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, GOOD.format(name="case")))
    assert scenario.events[0].kind == "spike"


def test_unknown_device_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.format(name="case").replace("anemo1:", "anemo9:"))
    [line] = problems(path)
    assert line.startswith(f"{path}:5: devices.anemo9: unknown device 'anemo9'")


def test_unknown_event_device(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.format(name="case").replace("device: fw1.S1", "device: fw9.*"))
    [line] = problems(path)
    assert line.startswith(f"{path}:7: events[0].device: unknown device 'fw9.*'")


def test_window_outside_the_run(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.format(name="case").replace("[100, 200]", "[500, 900]"))
    [line] = problems(path)
    assert line.startswith(f"{path}:9: truth[0].window_s: the window [500, 900] s ends after the run")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("{kind: meteor, device: fw1.S1, at_s: 100}", "events[0].kind: Input tag 'meteor' found"),
        (
            "{kind: spike, device: fw1.S1, at_s: 100, params: {size: big}}",
            "events[0].params.size: Input should",
        ),
        ("{kind: stuck, device: anemo1, at_s: 100}", "events[0].until_s: a 'stuck' event needs until_s"),
        (
            "{kind: dropout, device: pit.P1, at_s: 100, until_s: 50}",
            "events[0].until_s: until_s (50) must be after",
        ),
        ("{kind: overload, device: anemo1, at_s: 100}", "events[0].kind: 'overload' needs a crane device"),
        ("{kind: spike, device: fw1.S1, at_s: 700}", "events[0].at_s: 700 s is after the end of the run"),
        ("{kind: spike, device: fw1.S1}", "events[0].at_s: Field required"),
        ("{kind: spike, device: fw1.S1, at_s: 1, colour: red}", "events[0].colour: Extra inputs"),
    ],
)
def test_malformed_event(tmp_path: Path, event: str, expected: str) -> None:
    text = GOOD.format(name="case").replace("{kind: spike, device: fw1.S1, at_s: 100}", event)
    found = problems(write(tmp_path, text))
    assert any(p.startswith(f"{tmp_path / 'case.yaml'}:7: {expected}") for p in found), found


def test_unknown_rule_and_channel_in_truth(tmp_path: Path) -> None:
    text = GOOD.format(name="case").replace(
        "fw1.S1.settlement, rule: slow_sensors.spike", "fw1.S1.tilt, rule: nope"
    )
    found = problems(write(tmp_path, text))
    assert any(": truth[0].channel: unknown channel 'fw1.S1.tilt'" in p for p in found)
    assert any(": truth[0].rule: unknown rule 'nope'" in p for p in found)


def test_unknown_scenario_name() -> None:
    with pytest.raises(ScenarioError, match="no such scenario"):
        find_scenario("no-such-scenario")
