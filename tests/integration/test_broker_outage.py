"""The gateway rides out a broker that dies: it keeps running, logs once, reconnects, catches up."""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path

import aiomqtt
import pytest

from tests.integration.site_helpers import collect, next_event, reading, running, site_config
from tests.support import Mosquitto, eventually

pytestmark = pytest.mark.integration

TOPIC_UP = "smartsite/t1/devices/anemo1/up"


async def test_uplink_outage_publishes_what_was_raised_meanwhile(
    mosquitto_factory: type, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    sensors: Mosquitto = mosquitto_factory.new("sensors")  # type: ignore[attr-defined]
    platform: Mosquitto = mosquitto_factory.new("platform")  # type: ignore[attr-defined]
    config = site_config(sensors.url, tmp_path / "t.db", uplink_url=platform.url)
    # A persistent subscriber: the platform broker keeps its queue across the restart.
    async with collect("127.0.0.1", platform.port, "smartsite/t1/alarms", "platform-app", clean=False):
        pass
    async with running(config, tmp_path) as runtime, aiomqtt.Client("127.0.0.1", sensors.port) as sensor:
        uplink = runtime.forwarder("mqtt").destination
        assert await uplink.wait_connected(5)  # type: ignore[attr-defined]
        await eventually(lambda: runtime.sources[0].connected, 5, "input subscribed")

        platform.stop(signal.SIGKILL)
        await eventually(lambda: not uplink.connected, 10, "outage noticed")  # type: ignore[attr-defined]
        now = time.time()
        values = [10.5, 5.0, 12.5, 5.0, 21.0]
        for i, value in enumerate(values):
            await sensor.publish(TOPIC_UP, reading(value, now + i), qos=1)
        await eventually(lambda: runtime.pipeline.stats.events == 5, 5, "alarms raised during the outage")
        stats = runtime.forwarder("mqtt").stats
        await eventually(lambda: stats.failed >= 3, 10, "retries while down")

        platform.start()
        back = time.monotonic()
        await eventually(lambda: uplink.connected, 10, "uplink back within 10 s")  # type: ignore[attr-defined]
        async with collect(
            "127.0.0.1", platform.port, "smartsite/t1/alarms", "platform-app", clean=False
        ) as got:
            events = [await next_event(got, 10) for _ in range(5)]
        assert time.monotonic() - back < 10
        assert [e["state"] for e in events] == ["raised", "cleared", "raised", "cleared", "raised"]
        assert [e["value"] for e in events] == [10.5, 5.0, 12.5, 5.0, 21.0]
        assert [e["grade"] for e in events] == [1, 0, 2, 0, 3]

    failed = [r for r in caplog.records if "MQTT uplink" in r.getMessage() and "failed" in r.getMessage()]
    recovered = [
        r for r in caplog.records if "MQTT uplink" in r.getMessage() and "recovered" in r.getMessage()
    ]
    assert len(failed) == 1, [r.getMessage() for r in failed]
    assert len(recovered) == 1


async def test_single_broker_restart_reconnects_both_ways(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = site_config(mosquitto.url, tmp_path / "t.db")
    async with running(config, tmp_path) as runtime:
        source, uplink = runtime.sources[0], runtime.forwarder("mqtt").destination
        await eventually(lambda: source.connected, 5, "input subscribed")
        mosquitto.stop(signal.SIGKILL)
        await eventually(lambda: not source.connected, 10, "input outage noticed")
        mosquitto.start()
        back = time.monotonic()
        await eventually(lambda: source.connected and uplink.connected, 10, "both links back")  # type: ignore[attr-defined]
        assert time.monotonic() - back < 10
        async with (
            collect("127.0.0.1", mosquitto.port, "smartsite/t1/alarms") as alarms,
            aiomqtt.Client("127.0.0.1", mosquitto.port) as sensor,
        ):
            await sensor.publish(TOPIC_UP, reading(13.0), qos=1)
            event = await next_event(alarms, 2)
            assert event["state"] == "raised" and event["grade"] == 2
        assert runtime.task_health["mqtt-in"].restarts == 0
