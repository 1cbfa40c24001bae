"""A running gateway: an official warning raises its site alarm through the tiers and receivers,
and every change goes out on ``…/warnings``, also the ones made while the broker was away."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.config import SiteConfig, parse_config
from tests.drivers.cap.documents import alert, info, ref
from tests.drivers.notify.receivers import HttpRecorder
from tests.integration.site_helpers import running
from tests.support import Mosquitto, eventually, in_background

pytestmark = pytest.mark.integration

ALARMS = """\
alarms:
  store: alarms.db
  group_window_s: 0
  tiers:
    - {{name: safety officer, receivers: [hook]}}
  receivers:
    - {{id: hook, type: webhook, url: "{http}/hook"}}
"""

SITE = (
    """
site: {{id: w1, location: {{lat: 39.9, lon: 116.4}}}}
mqtt: {{url: "{broker}"}}
sinks:
  - {{type: sqlite, path: store.db}}
  - {{type: mqtt}}
"""
    + ALARMS
)


def config(broker: Mosquitto, http: HttpRecorder) -> SiteConfig:
    return parse_config(SITE.format(broker=broker.url, http=http.url("")))


class Listener:
    """Everything on ``smartsite/w1/warnings``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[dict[str, Any]] = []
        self.ready = asyncio.Event()

    async def run(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port) as client:
            await client.subscribe("smartsite/w1/warnings", qos=1)
            self.ready.set()
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                self.messages.append(json.loads(message.payload))


@contextlib.asynccontextmanager
async def listening(port: int) -> AsyncIterator[Listener]:
    listener = Listener(port)
    async with in_background(listener.run()):
        await asyncio.wait_for(listener.ready.wait(), 5)
        yield listener


def at(offset_s: float) -> str:
    return datetime.fromtimestamp(time.time() + offset_s, UTC).isoformat(timespec="seconds")


def gale(identifier: str = "W1") -> str:
    """A yellow gale warning sent a minute ago, in force for six hours (the wall clock runs here)."""
    return alert(identifier, sent=at(-60), infos=info(expires=at(6 * 3600)))


def notices(http: HttpRecorder) -> list[dict[str, Any]]:
    return [n for r in http.on("/hook") for n in r.json()["notices"]]


async def test_gale_warning_pushed_with_its_actions_and_published(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with (
        HttpRecorder() as http,
        listening(mosquitto.port) as heard,
        running(config(mosquitto, http), tmp_path) as runtime,
    ):
        await eventually(lambda: runtime.resumed, 5, "the gateway started")
        document = gale()
        await runtime.weather.desk.receive(document.encode())
        await eventually(lambda: notices(http), 5, "the push")
        (push,) = notices(http)
        assert (push["kind"], push["alarm"]["channel"], push["alarm"]["rule"]) == (
                "raised", "weather.gale", "weather_warning",
            )  # fmt: skip
        assert "停止吊装作业" in push["text"] and "大风黄色预警" in push["text"]
        await eventually(lambda: heard.messages, 5, "the …/warnings message")
        first = heard.messages[0]
        assert first["change"] == "issued" and first["warning"]["event"] == "gale"
        assert first["warning"]["actions"][0]["id"] == "stop_lifting"
        sent = document.split("<sent>")[1].split("</sent>")[0]
        cancel = alert("W2", at(0), "Cancel", references=ref("W1", sent), infos="")
        await runtime.weather.desk.receive(cancel.encode())
        await eventually(lambda: len(notices(http)) == 2, 5, "the cleared push")
        assert notices(http)[1]["kind"] == "cleared"
        await eventually(lambda: len(heard.messages) == 2, 5, "the ended message")
        assert heard.messages[1]["change"] == "ended"
        assert runtime.health()["weather"]["published"] == 2


async def test_changes_made_while_the_broker_is_away_are_published_after(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with HttpRecorder() as http, running(config(mosquitto, http), tmp_path) as runtime:
        await eventually(lambda: runtime.resumed, 5, "the gateway started")
        mosquitto.stop()
        await runtime.weather.desk.receive(gale().encode())
        await eventually(lambda: runtime.health()["weather"]["publish_failures"], 5, "a failed publish")
        mosquitto.start()
        async with listening(mosquitto.port) as heard:
            await eventually(lambda: heard.messages, 40, "the message, once the broker is back")
            assert heard.messages[0]["change"] == "issued"


LOCAL_SITE = (
    """
site: {{id: w1}}
mqtt: {{url: "{broker}"}}
devices:
  - {{id: anemo1, type: mqtt, channels: {{wind_speed: {{unit: m/s, range: [0, 60]}}}}}}
weather:
  local:
    gale: {{channels: [anemo1.wind_speed], mean: 2min, confirm_s: 0}}
"""
    + ALARMS
)


async def test_the_sites_own_gale_signal_from_mqtt_readings(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async with HttpRecorder() as http:
        config = parse_config(LOCAL_SITE.format(broker=mosquitto.url, http=http.url("")))
        async with running(config, tmp_path) as runtime:
            await eventually(lambda: runtime.sources and runtime.sources[0].connected, 5, "subscribed")
            async with aiomqtt.Client("127.0.0.1", mosquitto.port) as sensor:
                now = time.time()
                for i in range(5):
                    body = json.dumps({"ts": now - 5 + i, "values": {"wind_speed": 12.5}})
                    await sensor.publish("smartsite/w1/devices/anemo1/up", body, qos=1)
            await eventually(lambda: runtime.weather.desk.listing(), 5, "the local signal")
            (record,) = runtime.weather.desk.listing()
            assert (record.local, record.event, record.colour) == (True, "gale", "blue")
            await eventually(lambda: notices(http), 5, "its push")
            assert notices(http)[0]["alarm"]["rule"] == "weather_local"
            assert "本站大风蓝色信号" in notices(http)[0]["text"]
