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

from benchmarks.raw_mqtt import publish_packet, remaining_length
from drivers import mqtt_bulk_read
from drivers.mqtt_link import MqttLink
from tests.support import Mosquitto, self_signed_cert

TOPIC = "smartsite/s/devices/d1/up"


def _publish(port: int, messages: list[tuple[bytes, int]], ca_file: Path | None = None) -> None:
    """Publish (payload, qos) in order from a plain paho client, waiting for each to be taken."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bulk-pub")
    client.max_inflight_messages_set(100)
    if ca_file is not None:
        client.tls_set(ca_certs=str(ca_file))
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(TOPIC, payload, qos=qos) for payload, qos in messages]
        for info in infos:
            info.wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


async def _receive(
    client: aiomqtt.Client, count: int, within_s: float = 20.0, items: list[Any] | None = None
) -> list[Any]:
    """Messages as (topic, payload, mid, qos); ``items``: told each queue entry as it came."""
    got: list[Any] = []
    deadline = time.monotonic() + within_s
    async with asyncio.timeout_at(asyncio.get_running_loop().time() + within_s):
        async for item in client.messages:
            if items is not None:
                items.append(item)
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
            return await _receive(client, len(sent), items=items)

    items: list[Any] = []
    with Mosquitto(tmp_path / "broker") as broker:
        got = asyncio.run(scenario(broker.port))
    # In order within each QoS (a QoS 0 message may overtake QoS 1 ones waiting for a window).
    for qos in (0, 1, 2):
        assert [bytes(payload) for _, payload, _, q in got if q == qos] == [p for p, q in sent if q == qos]
    assert len(got) == len(sent)
    assert {topic for topic, *_ in got} == {TOPIC}
    # The QoS 2 one took paho's own path; the others came in bulk.
    assert [m.payload for m in items if isinstance(m, aiomqtt.Message)] == [b"qos2"]


def test_over_tls_nothing_waits_in_the_tls_layer(tmp_path: Path) -> None:
    """TLS hands over one record (16 kB) a read, and what it decrypted but we did not take wakes
    nobody: every message must still arrive, without more traffic behind it."""
    cert, key = self_signed_cert(tmp_path)
    sent = [(f'{{"n": {i}, "pad": "{"x" * (i % 300)}"}}'.encode(), 1) for i in range(4000)]

    async def scenario(port: int) -> list[Any]:
        link = MqttLink.from_url(f"mqtts://127.0.0.1:{port}", ca_file=str(cert))
        client = link.client(identifier="bulk-tls")
        mqtt_bulk_read.install(client, manual_ack=False)
        async with client:
            await client.subscribe(TOPIC, qos=1)
            await asyncio.to_thread(_publish, port, sent, cert)
            return await _receive(client, len(sent), within_s=20)

    listener = f"allow_anonymous true\ncertfile {cert}\nkeyfile {key}\n"
    with Mosquitto(tmp_path / "broker", listener_conf=listener) as broker:
        got = asyncio.run(scenario(broker.port))
    assert [bytes(payload) for _, payload, _, _ in got] == [p for p, _ in sent]


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
            mqtt_bulk_read.send_pubacks(client, [m[2] for m in got[:120]])
            # The broker handles a client's packets in order: once this SUBACK is back, it has
            # taken every PUBACK before it (a close right after them may lose the last ones).
            await client.subscribe("smartsite/s/sync", qos=0)
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
    assert [bytes(m[1]) for m in first] == [p for p, _ in sent]
    # The broker sends again exactly the 80 never acknowledged, in order.
    assert [bytes(m[1]) for m in again] == [p for p, _ in sent[120:]]


class _FedSocket:
    """Stands in for the socket: what the test feeds, then 'nothing more for now'."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.closed = False

    def recv(self, size: int) -> bytes:
        if not self.chunks:
            raise BlockingIOError
        chunk = self.chunks.pop(0)
        if len(chunk) > size:
            self.chunks.insert(0, chunk[size:])
            chunk = chunk[:size]
        return chunk

    def close(self) -> None:
        self.closed = True

    def fileno(self) -> int:
        return -1


def _fed_client() -> tuple[aiomqtt.Client, _FedSocket]:
    """An aiomqtt client (made inside a running event loop, as aiomqtt wants) on a fed socket."""
    client = aiomqtt.Client("127.0.0.1", 1, identifier="fed")
    mqtt_bulk_read.install(client, manual_ack=True)
    sock = _FedSocket()
    client._client._sock = sock  # type: ignore[assignment]
    return client, sock


@pytest.mark.parametrize("seed", range(5))
async def test_frames_cut_across_any_read_boundary(seed: int) -> None:
    import random

    rng = random.Random(seed)
    expected = []
    stream = b""
    for i in range(300):
        size = rng.choice([0, 5, 127, 128, 300, 16_383, 16_384, 70_000])
        qos = rng.choice([0, 1])
        payload = bytes(rng.randrange(256) for _ in range(min(size, 50))) * (size // 50 + 1)
        payload = payload[:size]
        topic = f"smartsite/s/devices/d{i % 7}/up"
        expected.append((topic, payload, (i % 65535) + 1 if qos else 0, qos))
        stream += publish_packet(topic, payload, (i % 65535) + 1, qos)
        if i % 50 == 0:
            stream += b"\xd0\x00"  # a PINGRESP between them goes to paho's own handler
    client, sock = _fed_client()
    got: list[Any] = []
    pos = 0
    while pos < len(stream):  # bounded: every turn feeds at least one byte
        step = rng.choice([1, 2, 3, 700, 65_536, 200_000])
        sock.chunks.append(stream[pos : pos + step])
        pos += step
        assert client._client.loop_read() == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        while not client._queue.empty():
            got += mqtt_bulk_read.messages_of(client._queue.get_nowait())
    assert [tuple(m) for m in got] == expected
    assert client._client._in_packet["command"] == 0


async def test_a_remaining_length_of_five_bytes_is_a_protocol_error_and_closes_the_link() -> None:
    client, sock = _fed_client()
    sock.chunks.append(publish_packet("t/a", b"ok", 0, qos=0) + b"\x30\xff\xff\xff\xff\x01" + b"x" * 10)
    assert client._client.loop_read() == mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
    assert sock.closed
    assert mqtt_bulk_read.messages_of(client._queue.get_nowait()) == [("t/a", b"ok", 0, 0)]


async def test_a_publish_whose_topic_runs_past_its_frame_is_a_protocol_error() -> None:
    client, sock = _fed_client()
    body = (50).to_bytes(2, "big") + b"short"
    sock.chunks.append(b"\x30" + remaining_length(len(body)) + body)
    assert client._client.loop_read() == mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
    assert sock.closed and client._queue.empty()
