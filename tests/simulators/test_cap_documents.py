"""A scenario's official warnings: CAP documents the gateway's parser takes, and their checks."""

from __future__ import annotations

import pytest

from drivers.cap.codes import WarningCodes
from drivers.cap.parse import parse_cap
from simulators.cap_documents import documents
from simulators.scenario import ScenarioError, WarningSpec, find_scenario, load_scenario, parse_scenario

START = 1748793600.0


def test_an_alert_and_its_cancel() -> None:
    sent = documents([WarningSpec(at_s=300, event="gale", colour="yellow", cancel_at_s=900)], START)
    assert [d.t_s for d in sent] == [300, 900]
    first, cancel = (parse_cap(d.body) for d in sent)
    assert (first.msg_type, first.sent.timestamp()) == ("Alert", START + 300)
    info = first.infos[0]
    assert WarningCodes.default().classify(info).colour == "yellow" and info.event == "大风"
    assert info.expires is not None and info.expires.timestamp() == START + 300 + 6 * 3600
    assert cancel.msg_type == "Cancel" and cancel.infos == ()
    assert [(r.identifier, r.sent) for r in cancel.references] == [(first.identifier, first.sent)]


def test_the_shipped_scenario_sends_its_warning() -> None:
    scenario = load_scenario(find_scenario("gale-front-warning"))
    assert [(w.event, w.colour, w.at_s) for w in scenario.warnings] == [("gale", "blue", 300)]


SCENARIO = """
name: w
seed: 1
duration_s: 600
site: examples/gale-front-site.yaml
warnings:
  - {{at_s: {at}, event: gale, colour: blue, cancel_at_s: {cancel}}}
truth:
  - {{channel: weather.gale, rule: weather_warning, grade: 1, window_s: [0, 10]}}
"""


@pytest.mark.parametrize(
    ("at", "cancel", "problem"),
    [(700, 800, "warnings[0].at_s: 700 s is after the end"), (100, 50, "cancel_at_s: must be after at_s")],
)
def test_bad_warnings_refused_with_their_key(at: float, cancel: float, problem: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(SCENARIO.format(at=at, cancel=cancel))
    assert problem in str(err.value)
