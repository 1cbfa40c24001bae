"""Every shipped scenario through the real gateway at high speed: each expected alarm inside its
window, no false alarm. And a scenario whose truth is wrong fails, with exit code 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulators.scenario import SCENARIOS_DIR
from smartsite.cli import main
from smartsite.evaluate import evaluate_many, format_table, scenario_names
from tests.simulators.scoring import PLAN_SCENARIOS

pytestmark = pytest.mark.integration

SHIPPED = scenario_names()


def test_the_plan_s_scenarios_are_shipped() -> None:
    assert set(PLAN_SCENARIOS) <= set(SHIPPED)


@pytest.mark.timeout(400)
def test_every_scenario_scores_perfectly() -> None:
    """All of them, two at a time (about 1 min 45 s on two cores; the pit's three days most of it)."""
    scores = evaluate_many(SHIPPED, jobs=2)
    table = format_table(scores)
    print(table)
    assert [s.name for s in scores] == SHIPPED
    for score in scores:
        assert score.error is None, table
        assert score.detected == score.expected, table
        assert not score.false_alarms, table
        assert all(d is not None and d >= 0 for d in score.delays_s), table
        assert score.frames > 0 and score.readings > 0


def _wrong_truth(tmp_path: Path) -> Path:
    """storm-day with its torn-sensor alarm expected at the end instead of the start."""
    text = (SCENARIOS_DIR / "storm-day.yaml").read_text()
    wrong = text.replace(
        "{channel: fw1.S3.settlement, rule: sensors_alive.silent, grade: 1, window_s: [0, 120]}",
        "{channel: fw1.S3.settlement, rule: sensors_alive.silent, grade: 1, window_s: [500, 600]}",
    )
    assert wrong != text, "storm-day.yaml changed: update this test"
    path = tmp_path / "storm-day.yaml"
    path.write_text(wrong)
    return path


@pytest.mark.timeout(120)
def test_wrong_truth_is_a_miss_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _wrong_truth(tmp_path)
    assert main(["evaluate", "--scenario", str(path), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    (entry,) = doc["scenarios"]
    assert entry["name"] == "storm-day"
    assert entry["expected"] == 4 and entry["detected"] == 3
    assert entry["delays_s"][3] is None
    # The silent alarm that did fire, at 60 s, is now unexplained.
    assert entry["false_alarms"] == 1
    (false,) = entry["false_alarm_events"]
    assert (false["channel"], false["rule"], false["t_s"]) == (
        "fw1.S3.settlement",
        "sensors_alive.silent",
        60.0,
    )
    assert doc["ok"] is False


@pytest.mark.timeout(120)
def test_evaluate_table_and_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--scenario", "storm-day"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["scenario", "expected", "detected", "false"]
    assert "storm-day" in out and "ok" in out


def test_unknown_scenario_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--scenario", "no-such-scenario"]) == 1
    assert "no such scenario" in capsys.readouterr().err
