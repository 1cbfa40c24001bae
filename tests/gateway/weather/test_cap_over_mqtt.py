"""CAP documents over MQTT into a running gateway: applied, refused ones counted, and those
published while the gateway was down delivered when it is back (persistent session)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import pytest

from gateway.config import SiteConfig, parse_config
from tests.drivers.cap.documents import alert, info
from tests.integration.site_helpers import running
from tests.support import Mosquitto, eventually

pytestmark = pytest.mark.integration

SITE = """
site: {{id: m1, location: {{lat: 39.9, lon: 116.4}}}}
mqtt: {{url: "{broker}"}}
weather: {{cap_topic: smartsite/m1/cap}}
"""


def config(broker: Mosquitto) -> SiteConfig:
    return parse_config(SITE.format(broker=broker.url))


def gale(identifier: str) -> bytes:
    now = time.time()
    sent = datetime.fromtimestamp(now - 60, UTC).isoformat(timespec="seconds")
    expires = datetime.fromtimestamp(now + 3600, UTC).isoformat(timespec="seconds")
    return alert(identifier, sent=sent, infos=info(expires=expires)).encode()


async def publish(broker: Mosquitto, payload: bytes) -> None:
    async with aiomqtt.Client("127.0.0.1", broker.port) as platform:
        await platform.publish("smartsite/m1/cap", payload, qos=1)


async def test_cap_over_mqtt(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async with running(config(mosquitto), tmp_path) as runtime:
        await eventually(lambda: runtime.health()["weather"]["mqtt_in"]["connected"], 5, "subscribed")
        await publish(mosquitto, b"<alert>not closed")
        await publish(mosquitto, gale("Q1"))
        await publish(mosquitto, gale("Q1"))  # delivered twice: applied once
        await eventually(lambda: runtime.weather.desk.listing(), 5, "the warning")
        await eventually(lambda: runtime.health()["weather"]["mqtt_in"]["messages"] == 3, 5, "all three")
        health = runtime.health()["weather"]
        assert health["refused"] == {"malformed_xml": 1} and health["in_force"] == 1
        assert [w.identifier for w in runtime.weather.desk.listing()] == ["Q1"]
    await publish(mosquitto, gale("Q2"))  # while the gateway is down
    async with running(config(mosquitto), tmp_path) as runtime:
        await eventually(lambda: len(runtime.weather.desk.listing()) == 2, 10, "the warning sent meanwhile")
        assert {w.identifier for w in runtime.weather.desk.listing()} == {"Q1", "Q2"}
