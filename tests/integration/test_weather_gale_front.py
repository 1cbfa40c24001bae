"""A gale front with an official warning ahead of it, through a whole gateway.

The platform posts a CAP gale blue warning; a simulated anemometer (the simulator's model, a gust
front from the scenario's events) then publishes over MQTT. The official warning must raise the
stop-lifting action (its site alarm pushed to the tier) before the site's own 2-min mean wind
reaches level 6, and the site's own gale signal must follow the anemometer: issued after the wind
met blue for the confirmation time, raised with it, ended after the front has passed.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import numpy as np
import pytest

from api import create_app
from gateway.config import parse_config
from simulators.generate import readings
from simulators.scenario import parse_scenario
from tests.drivers.cap.documents import alert, info
from tests.drivers.notify.receivers import HttpRecorder
from tests.integration.site_helpers import running
from tests.support import Mosquitto, eventually

pytestmark = pytest.mark.integration

SITE = """
site: {{id: gf, location: {{lat: 39.9, lon: 116.4}}}}
mqtt: {{url: "{broker}"}}
devices:
  # Readings are stamped ahead of the wall clock (scenario time from the warning on): allow it.
  - id: anemo1
    type: mqtt
    clock_tolerance_s: 86400
    channels: {{wind_speed: {{unit: m/s, range: [0, 60]}}}}
weather:
  local:
    gale: {{channels: [anemo1.wind_speed], mean: 2min, confirm_s: 120, end_after_s: 600}}
api:
  tokens: [{{role: platform, env: GF_PLATFORM}}]
alarms:
  store: alarms.db
  group_window_s: 0
  notify_cleared: false
  tiers: [{{name: lifting supervisor, receivers: [hook]}}]
  receivers: [{{id: hook, type: webhook, url: "{http}/hook"}}]
"""
SCENARIO = """
name: gale-front-warning
seed: 1515
duration_s: 4200
devices:
  anemo1: {model: anemometer, params: {mean: 4.0, diurnal_amplitude: 0.0}}
events:
  - kind: gust_front
    device: anemo1
    at_s: 900
    params: {peak: 14.0, rise_s: 300, hold_s: 900, decay_s: 600, turbulence_gain: 1.2}
"""
LEVEL_6 = 10.8  # m/s, GB/T 28591


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def mean_2min(t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The reference: plain sample mean over (t - 120, t] for every reading."""
    return np.array([v[(t > x - 120) & (t <= x)].mean() for x in t])


async def test_official_warning_ahead_of_the_front_and_the_local_signal_following(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GF_PLATFORM", "gf-secret")
    async with HttpRecorder() as http:
        config = parse_config(SITE.format(broker=mosquitto.url, http=http.url("")))
        frames = list(readings(parse_scenario(SCENARIO, site_config=config), config))
        t = np.array([f.t_s for f in frames])
        v = np.array([float((f.values or {})["wind_speed"] or 0.0) for f in frames])
        t_level6 = float(t[np.argmax(mean_2min(t, v) >= LEVEL_6)])
        assert 900 < t_level6 < 1500  # the front brings level 6 some minutes after it starts

        async with running(config, tmp_path) as runtime:
            await eventually(lambda: runtime.resumed and runtime.sources[0].connected, 5, "started")
            start = time.time()
            cap = alert("GF1", sent=iso(start - 60), infos=info(code="11B0601", headline="大风蓝色预警",
                                                                 expires=iso(start + 6 * 3600)))  # fmt: skip
            transport = httpx.ASGITransport(app=create_app(runtime))
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                headers = {"Authorization": "Bearer gf-secret", "Content-Type": "application/xml"}
                posted = await client.post("/api/v1/warnings/cap", content=cap.encode(), headers=headers)
            assert posted.status_code == 200, posted.text
            await eventually(lambda: http.on("/hook"), 5, "the official warning's push")

            async with aiomqtt.Client("127.0.0.1", mosquitto.port, max_inflight_messages=200) as sensor:
                for frame in frames:
                    body = json.dumps({"ts": start + frame.t_s, "values": frame.values})
                    await sensor.publish("smartsite/gf/devices/anemo1/up", body, qos=1)

            def local() -> Any:
                found = [w for w in runtime.weather.desk.listing() if w.local]
                return found[0] if found and found[0].state == "ended" else None

            record = await eventually(local, 30, "the local signal issued and ended")
            trail = [e["detail"]["change"] for e in await runtime.weather.desk.audit_trail(record.id)]

        records = {r.rule: r for r in runtime.desk.records.values()}
        official, site_own = records["weather_warning"], records["weather_local"]
        # The official warning stopped lifting before the site's own wind reached level 6 ...
        assert official.raised_ts < start + t_level6
        pushes = [n for r in http.on("/hook") for n in r.json()["notices"]]
        assert pushes[0]["alarm"]["rule"] == "weather_warning" and "停止吊装作业" in pushes[0]["text"]
        # ... and the local signal followed the anemometer: issued once blue had held for 2 min,
        # on data time, raised as its own alarm, ended after the front (rise 300 s, hold 900 s).
        issued_after = record.received_at - start
        assert t_level6 - 300 < issued_after < t_level6 + 300
        assert site_own.raised_ts == record.received_at
        assert record.ended_at - start > 900 + 300 + 900
        assert site_own.max_grade >= 1 and not site_own.active
        assert trail[0] == "issued" and trail[-1] == "ended" and "updated" in trail  # blue, then yellow
