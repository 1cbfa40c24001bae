"""Readings, alarms and crane cycles reach the platform broker through the store and its queue."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.config import parse_config
from tests.integration.site_helpers import collect, running
from tests.support import Mosquitto, eventually

pytestmark = pytest.mark.integration

SITE = """
site: {{id: t1}}
mqtt: {{url: "{url}"}}
devices:
  - id: crane1
    type: mqtt
    channels:
      load: {{unit: t, range: [0, 20]}}
      radius: {{unit: m, range: [0, 60]}}
rules:
  - id: crane_moment
    type: crane
    channels: [crane1.load]
    radius: crane1.radius
    chart: [[2.5, 6.0], [13.0, 6.0], [30.0, 2.5], [50.0, 1.3]]
sinks:
  - type: sqlite
    path: {db}
  - type: mqtt
    backlog_rate: null
"""


def lift(start: float) -> list[dict[str, Any]]:
    """One lift at 20 m: 0.05 t idle, 3 t for 20 s, then set down; one message a second."""
    loads = [0.05] * 3 + [3.0] * 20 + [0.05] * 3
    return [{"ts": start + i, "values": {"load": v, "radius": 20.0}} for i, v in enumerate(loads)]


async def test_readings_alarms_and_cycles_reach_the_platform(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = parse_config(SITE.format(url=mosquitto.url, db=tmp_path / "s.db"))
    start = time.time() - 60
    messages = lift(start)
    async with (
        collect("127.0.0.1", mosquitto.port, "smartsite/t1/telemetry") as telemetry,
        collect("127.0.0.1", mosquitto.port, "smartsite/t1/cycles") as cycles,
        collect("127.0.0.1", mosquitto.port, "smartsite/t1/alarms") as alarms,
        running(config, tmp_path) as runtime,
        aiomqtt.Client("127.0.0.1", mosquitto.port) as sensor,
    ):
        await eventually(lambda: runtime.sources[0].connected, 5, "gateway subscribed")
        for body in messages:
            await sensor.publish("smartsite/t1/devices/crane1/up", json.dumps(body), qos=1)
        forwarder = runtime.forwarder("mqtt")
        # The raw load and radius of every message, its computed load and moment ratios, and the cycle.
        await eventually(lambda: forwarder.stats.sent == len(messages) * 4 + 1, 10, "all forwarded")
        await eventually(lambda: cycles.qsize() == 1, 10, "the lift forwarded as a cycle")
        health = runtime.health()

    got: list[dict[str, Any]] = []
    while not telemetry.empty():
        message = telemetry.get_nowait()
        assert message["site"] == "t1" and message["id"].startswith("t1-readings-")
        got += message["readings"]
    seqs = [r["seq"] for r in got]
    assert len(seqs) == len(set(seqs)) == len(messages) * 4
    loads = sorted((r["ts"], r["value"]) for r in got if r["channel"] == "crane1.load")
    assert [v for _, v in loads] == [m["values"]["load"] for m in messages]
    assert loads[0][0].endswith("Z")
    # At 20 m the rated load is interpolated between 13 m / 6.0 t and 30 m / 2.5 t.
    rated = 6.0 - 3.5 * (20.0 - 13.0) / (30.0 - 13.0)
    ratios = sorted((r["ts"], r["value"]) for r in got if r["channel"] == "crane1.load_ratio")
    assert [v for _, v in ratios] == pytest.approx([m["values"]["load"] / rated for m in messages])

    cycle = cycles.get_nowait()
    assert cycle["crane"] == "crane1" and cycle["site"] == "t1"
    assert cycle["peak_load_t"] == 3.0 and cycle["radius_at_peak_m"] == 20.0
    assert cycle["id"] == f"t1-crane1-{int((start + 3) * 1000)}"
    assert cycle["overload"] is False

    assert alarms.empty()  # 3 t at 20 m is under the chart's 4.56 t: no alarm
    (dest,) = health["destinations"]
    assert dest["destination"] == "mqtt" and dest["sent"] == len(messages) * 4 + 1
    assert health["crane_cycles"] == 1
