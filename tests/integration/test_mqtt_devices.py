"""MQTT devices against a real mosquitto: vendor payload layouts, arrays of readings, persistence."""

from __future__ import annotations

import json
import time
from pathlib import Path

import aiomqtt
import pytest

from gateway.config import parse_config
from gateway.vocab import Quality
from tests.integration.site_helpers import running
from tests.support import Mosquitto, eventually

pytestmark = pytest.mark.integration

SITE = """
site: {{id: md}}
mqtt: {{url: "{url}"}}
devices:
  - id: dtu7
    type: mqtt
    topic: vendor/dtu7/data
    channels: {{ws: {{unit: m/s}}, wd: {{unit: deg}}}}
    payload:
      readings: "$.data[*]"
      ts: "$.time"
      values: {{ws: "$.sensors.wind.speed", wd: "$.sensors.wind.dir"}}
  - id: gauge
    type: mqtt
    channels: {{level: {{unit: m}}}}
    payload: {{ts: null, values: {{level: "$.lvl"}}}}
  - {{id: plain, type: mqtt, channels: {{x: {{unit: mm}}}}}}
"""


async def test_vendor_layout_with_an_array_of_readings(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = parse_config(SITE.format(url=mosquitto.url))
    async with running(config, tmp_path) as runtime, aiomqtt.Client("127.0.0.1", mosquitto.port) as dtu:
        await eventually(lambda: runtime.sources[0].connected, 5, "subscribed")
        t0 = int(time.time()) - 60  # device stamps near the gateway's clock (ahead ones are refused)
        body = {
            "data": [{"time": t0 + i, "sensors": {"wind": {"speed": 5.0 + i, "dir": 90}}} for i in range(3)]
        }
        await dtu.publish("vendor/dtu7/data", json.dumps(body), qos=1)
        await dtu.publish("smartsite/md/devices/gauge/up", json.dumps({"lvl": 2.5}), qos=1)
        state, col = runtime.engine.state, runtime.site.index.column
        await eventually(lambda: state.readings[col("dtu7.ws")] == 3, 5, "three readings from one message")
        assert state.last_value[col("dtu7.ws")] == 7.0 and state.last_ts[col("dtu7.ws")] == t0 + 2
        await eventually(lambda: state.readings[col("gauge.level")] == 1, 5, "gauge reading")
        assert state.last_quality[col("gauge.level")] == Quality.TIME_ESTIMATED  # no time: arrival
        # A message missing a value is counted, the others kept.
        await dtu.publish("vendor/dtu7/data", json.dumps({"data": [{"time": t0 + 9, "sensors": {}}]}), qos=1)
        stats = runtime.sources[0].stats["dtu7"]
        await eventually(lambda: stats.rejected["missing_value"] == 2, 5, "missing values counted")
        await dtu.publish("vendor/dtu7/data", b'{"nothing": 1}', qos=1)
        await eventually(lambda: stats.rejected["malformed"] == 1, 5, "no readings array")


async def test_readings_sent_while_the_gateway_is_down_arrive_after_restart(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    config = parse_config(SITE.format(url=mosquitto.url))
    async with running(config, tmp_path) as runtime:
        await eventually(lambda: runtime.sources[0].connected, 5, "first session subscribed")
    # The gateway is gone; the sensor goes on publishing with QoS 1.
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as sensor:
        for i in range(5):
            body = {"ts": time.time() + i, "values": {"x": float(i)}}
            await sensor.publish("smartsite/md/devices/plain/up", json.dumps(body), qos=1)
    async with running(config, tmp_path) as runtime:
        col = runtime.site.index.column("plain.x")
        await eventually(lambda: runtime.engine.state.readings[col] == 5, 5, "queued readings delivered")
        assert runtime.engine.state.last_value[col] == 4.0
