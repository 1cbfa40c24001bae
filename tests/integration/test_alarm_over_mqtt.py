"""A sensor JSON over a real mosquitto becomes an alarm event on smartsite/<site>/alarms."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.runtime import Runtime
from tests.integration.site_helpers import collect, next_event, reading, running, site_config
from tests.support import Mosquitto, eventually

pytestmark = pytest.mark.integration

TOPIC_UP = "smartsite/t1/devices/anemo1/up"


@asynccontextmanager
async def gateway_with_sensor(
    mosquitto: Mosquitto, tmp_path: Path
) -> AsyncIterator[tuple[asyncio.Queue[dict[str, Any]], Runtime, aiomqtt.Client]]:
    """The alarms the gateway publishes, the gateway subscribed to the broker, and a sensor's client."""
    config = site_config(mosquitto.url, tmp_path / "t.db")
    async with (
        collect("127.0.0.1", mosquitto.port, "smartsite/t1/alarms") as alarms,
        running(config, tmp_path) as runtime,
        aiomqtt.Client("127.0.0.1", mosquitto.port) as sensor,
    ):
        await eventually(lambda: runtime.sources[0].connected, 5, "gateway subscribed")
        yield alarms, runtime, sensor


async def test_raise_and_clear_with_hysteresis(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async with gateway_with_sensor(mosquitto, tmp_path) as (alarms, _, sensor):
        now = time.time()
        await sensor.publish(TOPIC_UP, reading(5.0, now), qos=1)
        sent = time.monotonic()
        await sensor.publish(TOPIC_UP, reading(10.5, now + 1), qos=1)
        raised = await next_event(alarms, 1.0)
        assert time.monotonic() - sent < 1.0
        assert raised["state"] == "raised"
        assert (raised["channel"], raised["rule"], raised["grade"]) == (
            "anemo1.wind_speed",
            "wind_lifting",
            1,
        )
        assert raised["value"] == 10.5 and raised["limit"] == 10.0 and raised["unit"] == "m/s"
        assert raised["site"] == "t1" and raised["ts"].endswith("Z")

        # Inside the band (limit 10, hysteresis 1): no flapping.
        for i, value in enumerate([9.5, 10.2, 9.1, 10.8, 9.05]):
            await sensor.publish(TOPIC_UP, reading(value, now + 2 + i), qos=1)
        await sensor.publish(TOPIC_UP, reading(8.9, now + 10), qos=1)
        cleared = await next_event(alarms, 1.0)
        assert cleared["state"] == "cleared"
        assert cleared["grade"] == 0 and cleared["value"] == 8.9
        assert cleared["alarm_id"] == raised["alarm_id"] and cleared["id"] != raised["id"]
        assert alarms.empty()

        # Escalation straight to orange, then red, then de-escalation.
        for i, value in enumerate([12.5, 21.0, 15.0]):
            await sensor.publish(TOPIC_UP, reading(value, now + 20 + i), qos=1)
        states = [(await next_event(alarms, 1.0))["state"] for _ in range(3)]
        assert states == ["raised", "escalated", "deescalated"]


async def test_bad_payloads_are_counted_not_alarmed(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async with gateway_with_sensor(mosquitto, tmp_path) as (alarms, runtime, sensor):
        for payload in [b"{not json", b"[1,2]", b'{"values": 5}', b'{"ts": "yesterday", "values": {}}']:
            await sensor.publish(TOPIC_UP, payload, qos=1)
        await sensor.publish(TOPIC_UP, b'{"values": {"wind_speed": "high"}}', qos=1)
        await sensor.publish(TOPIC_UP, b'{"values": {"wind_speed": NaN}}', qos=1)
        await sensor.publish(TOPIC_UP, b'{"values": {"wind_speed": 99.0}}', qos=1)  # beyond range
        await sensor.publish(TOPIC_UP, b'{"values": {"gust": 3}}', qos=1)
        await sensor.publish("smartsite/t1/devices/ghost/up", reading(30.0), qos=1)
        stats = runtime.sources[0].stats["anemo1"]
        await eventually(lambda: stats.rejected["malformed"] == 4, 3, "malformed counted")
        await eventually(lambda: stats.rejected["unknown_quantity"] == 1, 3, "unknown quantity counted")
        assert stats.rejected["non_numeric"] == 1
        assert stats.rejected["non_finite"] == 1
        source = runtime.sources[0]
        # Messages on different topics may be delivered in any order: wait for the ghost's too.
        await eventually(
            lambda: source.rejected_total().get("(unknown device)", {}).get("unknown_device") == 1,
            3,
            "unknown device counted",
        )
        await eventually(lambda: runtime.pipeline.stats.rejected["out_of_range"] == 1, 3, "range counted")
        # None of them is a value: nothing raised, and the gateway is still alive.
        await sensor.publish(TOPIC_UP, reading(10.5), qos=1)
        event = await next_event(alarms, 2.0)
        assert event["state"] == "raised" and event["value"] == 10.5


async def test_malformed_logged_once_per_device(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = site_config(mosquitto.url, tmp_path / "t.db")
    async with running(config, tmp_path) as runtime, aiomqtt.Client("127.0.0.1", mosquitto.port) as sensor:
        await eventually(lambda: runtime.sources[0].connected, 5, "gateway subscribed")
        for _ in range(20):
            await sensor.publish(TOPIC_UP, b"garbage", qos=1)
        stats = runtime.sources[0].stats["anemo1"]
        await eventually(lambda: stats.rejected["malformed"] == 20, 3, "all counted")
    lines = [r for r in caplog.records if "malformed" in r.getMessage() and "anemo1" in r.getMessage()]
    assert len(lines) == 1


async def test_status_online_then_offline(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = site_config(mosquitto.url, tmp_path / "t.db")
    async with running(config, tmp_path) as runtime:
        uplink = runtime.forwarder("mqtt").destination
        assert await uplink.wait_connected(5)  # type: ignore[attr-defined]
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as watcher:
            await watcher.subscribe("smartsite/t1/status", qos=1)
            message = await asyncio.wait_for(anext(aiter(watcher.messages)), 3)
            assert message.payload == b"online" and message.retain
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as watcher:
        await watcher.subscribe("smartsite/t1/status", qos=1)
        message = await asyncio.wait_for(anext(aiter(watcher.messages)), 3)
        assert message.payload == b"offline"
