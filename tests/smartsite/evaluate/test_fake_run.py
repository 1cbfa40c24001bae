"""A small scenario through the real gateway (embedded broker), without the scenario package."""

from __future__ import annotations

import json
import math

import pytest

from smartsite.evaluate import Expectation, evaluate_plan, format_table, report
from tests.smartsite.evaluate import fake

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("batch_s", [None, 0.0])
async def test_fake_scenario_detected_without_false_alarm(batch_s: float | None) -> None:
    """Batched (several readings per message) or one message per reading: the same score."""
    score = await evaluate_plan(fake.plan(), speed=math.inf, batch_s=batch_s)
    print(format_table([score]))
    assert score.error is None
    assert score.detected == score.expected == 3, format_table([score])
    assert not score.false_alarms, format_table([score])
    assert score.ok
    assert score.frames == 600 + 120
    delays = score.delays_s
    assert all(d is not None and d >= 0 for d in delays)
    doc = json.loads(json.dumps(report([score])))
    entry = doc["scenarios"][0]
    assert {k: entry[k] for k in ("name", "expected", "detected", "false_alarms")} == {
        "name": "fake",
        "expected": 3,
        "detected": 3,
        "false_alarms": 0,
    }
    assert len(entry["delays_s"]) == 3


async def test_wrong_truth_is_a_miss_and_a_false_alarm() -> None:
    wrong = (
        # The gust is at 200 s, not 400 s: a miss, and the gust's alarm is unexplained.
        Expectation("anemo1.wind_speed", "wind_high", 2, 400.0, 420.0),
    )
    score = await evaluate_plan(fake.plan(wrong), speed=math.inf)
    assert not score.ok
    assert score.detected == 0 and score.delays_s == [None]
    rules = {(f.event.channel, f.event.rule) for f in score.false_alarms}
    assert ("anemo1.wind_speed", "wind_high") in rules
    assert ("fw.S1.settlement", "settle") in rules
    table = format_table([score])
    assert "missed anemo1.wind_speed wind_high" in table
