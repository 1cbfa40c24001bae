"""The platform uplink over TLS, with a password and with MQTT 5; misconfiguration reported once."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import subprocess
from pathlib import Path

import aiomqtt
import numpy as np
import pytest

from drivers import MqttLink, MqttUplink
from gateway.vocab import ChannelMeta, ForwardChunk, RetryableSinkError
from tests.support import Mosquitto, self_signed_cert

pytestmark = pytest.mark.integration

CHANNELS = [ChannelMeta("a.x", "a", "x")]


def chunk() -> ForwardChunk:
    return ForwardChunk(
        id="s1-readings-1-2",
        site="s1",
        kind="readings",
        segment=1,
        seq=np.array([1, 2], np.int64),
        ts=np.array([1.0, 2.0]),
        channel=np.array([0, 0], np.int32),
        value=np.array([1.5, 2.5]),
        quality=np.array([0, 0], np.uint8),
    )


async def receive_one(client: aiomqtt.Client) -> dict[str, object]:
    message = await asyncio.wait_for(anext(aiter(client.messages)), 5)
    assert isinstance(message.payload, bytes)
    body: dict[str, object] = json.loads(message.payload)
    return body


@pytest.fixture
def tls_broker(tmp_path: Path) -> object:
    cert, key = self_signed_cert(tmp_path)
    broker = Mosquitto(
        tmp_path / "broker",
        listener_conf=f"allow_anonymous true\ncertfile {cert}\nkeyfile {key}\n",
    )
    broker.start()
    yield broker, cert
    broker.stop()


async def test_tls_with_the_site_ca_delivers(tls_broker: tuple[Mosquitto, Path]) -> None:
    broker, cert = tls_broker
    link = MqttLink.from_url(f"mqtts://127.0.0.1:{broker.port}", ca_file=str(cert))
    context = ssl.create_default_context(cafile=str(cert))
    async with aiomqtt.Client("127.0.0.1", broker.port, tls_context=context) as platform:
        await platform.subscribe("smartsite/s1/telemetry", qos=1)
        async with MqttUplink(link, "smartsite/s1", CHANNELS, client_id="up-tls") as uplink:
            assert await uplink.wait_connected(10)
            await uplink.send(chunk())
            body = await receive_one(platform)
    assert body["id"] == "s1-readings-1-2"


async def test_untrusted_certificate_is_reported_once_and_never_sent_in_plain_text(
    tls_broker: tuple[Mosquitto, Path], caplog: pytest.LogCaptureFixture
) -> None:
    broker, _ = tls_broker
    caplog.set_level(logging.WARNING)
    link = MqttLink.from_url(f"mqtts://127.0.0.1:{broker.port}")  # system CAs: self-signed is untrusted
    async with MqttUplink(link, "smartsite/s1", CHANNELS, client_id="up-untrusted") as uplink:
        assert not await uplink.wait_connected(3)
        with pytest.raises(RetryableSinkError, match="not connected"):
            await uplink.send(chunk())
    lines = [r.getMessage() for r in caplog.records if "MQTT uplink" in r.getMessage()]
    assert len(lines) == 1, lines  # several attempts in 3 s, one line
    assert "TLS handshake failed" in lines[0] and "CERTIFICATE" in lines[0].upper()
    log = (broker.folder / "mosquitto.log").read_text(errors="replace")
    assert "New client connected" not in log  # no MQTT CONNECT ever reached the broker


@pytest.fixture
def password_broker(tmp_path: Path) -> Mosquitto:
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "gateway", "s3cret"], check=True)
    broker = Mosquitto(
        tmp_path / "broker",
        listener_conf=f"allow_anonymous false\npassword_file {passwords}\n",
    )
    broker.start()
    yield broker
    broker.stop()


async def test_wrong_password_is_reported_once_and_the_right_one_delivers(
    password_broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    bad = MqttLink.from_url(password_broker.url, username="gateway", password="wrong")
    async with MqttUplink(bad, "smartsite/s1", CHANNELS, client_id="up-bad") as uplink:
        assert not await uplink.wait_connected(3)
    lines = [r.getMessage() for r in caplog.records if "MQTT uplink" in r.getMessage()]
    assert len(lines) == 1 and "check username and password" in lines[0], lines

    good = MqttLink.from_url(password_broker.url, username="gateway", password="s3cret")
    async with aiomqtt.Client(
        "127.0.0.1", password_broker.port, username="gateway", password="s3cret"
    ) as platform:
        await platform.subscribe("smartsite/s1/telemetry", qos=1)
        async with MqttUplink(good, "smartsite/s1", CHANNELS, client_id="up-good") as uplink:
            assert await uplink.wait_connected(10)
            await uplink.send(chunk())
            assert (await receive_one(platform))["site"] == "s1"


async def test_mqtt5_session_keeps_messages_for_the_platform(mosquitto: Mosquitto) -> None:
    link = MqttLink.from_url(mosquitto.url, mqtt5=True, session_expiry_s=3600)
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as platform:
        await platform.subscribe("smartsite/s1/telemetry", qos=1)
        async with MqttUplink(link, "smartsite/s1", CHANNELS, client_id="up-v5") as uplink:
            assert await uplink.wait_connected(10)
            await uplink.send(chunk())
            body = await receive_one(platform)
    assert body["readings"] == [
        {"seq": 1, "ts": "1970-01-01T00:00:01.000Z", "channel": "a.x", "value": 1.5, "quality": 0},
        {"seq": 2, "ts": "1970-01-01T00:00:02.000Z", "channel": "a.x", "value": 2.5, "quality": 0},
    ]
    # mosquitto logs the protocol and clean-start flag: MQTT 5 ("p5"), session kept ("c0").
    log = (mosquitto.folder / "mosquitto.log").read_text()
    assert any("up-v5 (p5, c0" in line for line in log.splitlines()), log[-1000:]


async def test_mqtts_to_a_plain_listener_says_so_and_sends_nothing(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    link = MqttLink.from_url(f"mqtts://127.0.0.1:{mosquitto.port}")  # the port speaks plain MQTT
    async with MqttUplink(link, "smartsite/s1", CHANNELS, client_id="up-plain") as uplink:
        assert not await uplink.wait_connected(3)
    lines = [r.getMessage() for r in caplog.records if "MQTT uplink" in r.getMessage()]
    assert len(lines) == 1, lines  # several attempts in 3 s, one line
    assert "TLS handshake failed: the broker hung up" in lines[0]
    assert "is this port a plain MQTT listener?" in lines[0]
    log = (mosquitto.folder / "mosquitto.log").read_text(errors="replace")
    assert "New client connected" not in log  # nothing was ever sent in plain text
