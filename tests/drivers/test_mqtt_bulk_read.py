"""Bulk reading from paho (drivers.mqtt_bulk_read) against a real mosquitto: every message arrives
whole and in order, whatever its size or QoS, and acknowledgements sent in bulk count."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
import pytest

from drivers import mqtt_bulk_read
from drivers.mqtt_link import MqttLink
from tests.support import Mosquitto

TOPIC = "smartsite/s/devices/d1/up"


def _publish(port: int, messages: list[tuple[bytes, int]]) -> None:
    """Publish (payload, qos) in order from a plain paho client, waiting for each to be taken."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bulk-pub")
    client.max_inflight_messages_set(100)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(TOPIC, payload, qos=qos) for payload, qos in messages]
        for info in infos:
            info.wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


async def _receive(client: aiomqtt.Client, count: int, within_s: float = 20.0) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + within_s
    async with asyncio.timeout_at(asyncio.get_running_loop().time() + within_s):
        async for item in client.messages:
            got += mqtt_bulk_read.messages_of(item)
            if len(got) >= count or time.monotonic() > deadline:
                break
    return got


@pytest.mark.parametrize("mqtt5", [False, True], ids=["mqtt3.1.1", "mqtt5"])
def test_every_message_arrives_whole_and_in_order(tmp_path: Path, mqtt5: bool) -> None:
    small = [(f'{{"n": {i}}}'.encode(), 1) for i in range(3000)]
    big = (b"x" * 300_000, 1)  # spans several 64 kB reads
    rest = [(b"qos0-a", 0), (b"qos2", 2), (b"qos0-b", 0)]
    sent = [*small[:1500], big, *small[1500:], *rest]

    async def scenario(port: int) -> list[Any]:
        link = MqttLink.from_url(f"mqtt://127.0.0.1:{port}", mqtt5=mqtt5)
        client = link.client(identifier="bulk-sub")
        mqtt_bulk_read.install(client, manual_ack=False)
        async with client:
            await client.subscribe(TOPIC, qos=2)
            await asyncio.to_thread(_publish, port, sent)
            return await _receive(client, len(sent))

    with Mosquitto(tmp_path / "broker") as broker:
        got = asyncio.run(scenario(broker.port))
    # In order within each QoS (a QoS 0 message may overtake QoS 1 ones waiting for a window).
    for qos in (0, 1, 2):
        assert [bytes(m.payload) for m in got if m.qos == qos] == [p for p, q in sent if q == qos]
    assert len(got) == len(sent)
    assert {str(m.topic) for m in got} == {TOPIC}
    # The QoS 2 one took paho's own path; the others came in bulk.
    assert sum(isinstance(m, aiomqtt.Message) for m in got) == 1


def test_bulk_pubacks_release_what_they_acknowledge_and_nothing_else(tmp_path: Path) -> None:
    sent = [(f"m{i}".encode(), 1) for i in range(200)]

    async def first_session(port: int) -> list[Any]:
        link = MqttLink.from_url(f"mqtt://127.0.0.1:{port}")
        client = link.client(identifier="bulk-ack", clean_session=False)
        client._client.manual_ack_set(True)
        mqtt_bulk_read.install(client, manual_ack=True)
        async with client:
            await client.subscribe(TOPIC, qos=1)
            await asyncio.to_thread(_publish, port, sent)
            got = await _receive(client, len(sent))
            mqtt_bulk_read.send_pubacks(client, [m.mid for m in got[:120]])
            await asyncio.sleep(0.5)  # the PUBACKs leave before the connection closes
        return got

    async def second_session(port: int) -> list[Any]:
        link = MqttLink.from_url(f"mqtt://127.0.0.1:{port}")
        client = link.client(identifier="bulk-ack", clean_session=False)
        mqtt_bulk_read.install(client, manual_ack=False)
        async with client:
            return await _receive(client, 80, within_s=10)

    with Mosquitto(tmp_path / "broker") as broker:
        first = asyncio.run(first_session(broker.port))
        again = asyncio.run(second_session(broker.port))
    assert [bytes(m.payload) for m in first] == [p for p, _ in sent]
    # The broker sends again exactly the 80 never acknowledged, in order.
    assert [bytes(m.payload) for m in again] == [p for p, _ in sent[120:]]
