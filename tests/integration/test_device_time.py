"""Device time over a real mosquitto: one reading an hour ahead does not blind a formwork channel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.config import SiteConfig, parse_config
from tests.integration.site_helpers import collect, next_event, running
from tests.support import FakeClock, Mosquitto, eventually

pytestmark = pytest.mark.integration

TOPIC_UP = "smartsite/t1/devices/fw1.S1/up"
NOW = 1_780_000_000.0  # the gateway's (fake) clock: 2026-05-28T20:26:40Z

SITE_YAML = """
site: {{id: t1, timezone: Asia/Shanghai}}
mqtt: {{url: "{input_url}"}}
devices:
  - id: fw1.S1
    type: mqtt
    position: formwork 1 bay A
    channels:
      settlement: {{unit: mm, range: [-50, 100]}}
rules:
  # DBJ/T 15-197-2020: settlement alarm value 8 mm, pre-warning at 80 %.
  - id: formwork_settlement
    type: threshold
    channels: ["fw1.*.settlement"]
    upper: {{yellow: 6.4, orange: 6.8, red: 8.0}}
    hysteresis: 0.2
sinks:
  - type: sqlite
    path: {db}
  - type: mqtt
"""


def config(url: str, db: Path) -> SiteConfig:
    return parse_config(SITE_YAML.format(input_url=url, db=db))


def settlement(value: float, ts: float) -> bytes:
    return json.dumps({"ts": ts, "values": {"settlement": value}}).encode()


async def test_one_reading_an_hour_ahead_then_the_8_mm_alarm_is_raised(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    clock = FakeClock(NOW)
    async with (
        collect("127.0.0.1", mosquitto.port, "smartsite/t1/alarms") as alarms,
        running(config(mosquitto.url, tmp_path / "t.db"), tmp_path, clock=clock) as runtime,
        aiomqtt.Client("127.0.0.1", mosquitto.port) as sensor,
    ):
        await eventually(lambda: runtime.sources[0].connected, 5, "gateway subscribed")
        # A DTU whose clock jumped an hour ahead stamps one reading...
        await sensor.publish(TOPIC_UP, settlement(0.5, NOW + 3600), qos=1)
        notice = await next_event(alarms, 3.0)
        assert (notice["channel"], notice["rule"], notice["state"]) == (
            "fw1.S1.clock",
            "device_clock",
            "raised",
        )
        assert notice["grade"] == 1 and notice["value"] == 3600.0 and notice["limit"] == 300.0
        assert "fw1.S1" in notice["message"] and "3600 s ahead" in notice["message"]
        # ... then its clock is right again and the formwork settles through 10 mm, one reading a second.
        events: list[dict[str, Any]] = []
        for i in range(26):
            clock.now = NOW + i
            await sensor.publish(TOPIC_UP, settlement(round(0.4 * i, 1), NOW + i), qos=1)
        while len(events) < 4:  # the notice cleared, then yellow, orange, red
            events.append(await next_event(alarms, 3.0))
        by_rule = [(e["rule"], e["state"], e["grade"]) for e in events]
        assert by_rule[0] == ("device_clock", "cleared", 0)
        assert by_rule[1:] == [
            ("formwork_settlement", "raised", 1),
            ("formwork_settlement", "escalated", 2),
            ("formwork_settlement", "escalated", 3),
        ]
        red = events[3]
        assert (red["channel"], red["value"], red["limit"]) == ("fw1.S1.settlement", 8.0, 8.0)
        stats = runtime.sources[0].stats["fw1.S1"]
        assert dict(stats.rejected) == {"future_ts": 1}
        assert runtime.health()["sources"][0]["rejected"] == {"fw1.S1": {"future_ts": 1}}
        assert runtime.pipeline.stats.rejected["out_of_order"] == 0
        assert runtime.health()["rejected"]["future_ts"] == 1
        assert runtime.health()["clocks_off"] == []
