"""MQTT notices against a real mosquitto, and channels built from the site file's receivers."""

from __future__ import annotations

import asyncio
import json

import aiomqtt
import pytest
from pydantic import TypeAdapter

from drivers.mqtt_link import MqttLink
from drivers.notify import (
    DingTalkChannel,
    EmailChannel,
    MqttNoticeChannel,
    WebhookChannel,
    WeComChannel,
    channel_for,
)
from gateway.alarms.receivers import build_channel, render_for
from gateway.alarms.render import render
from gateway.config.alarm_handling import AlarmsConfig, ReceiverConfig
from gateway.vocab import ConfigError, RetryableSinkError
from tests.drivers.notify.conftest import DINGTALK_SECRET
from tests.drivers.notify.receivers import HttpRecorder
from tests.drivers.notify.samples import DASHBOARD, many, notice
from tests.support import Mosquitto, free_port

pytestmark = pytest.mark.integration


async def test_mqtt_notice_is_published_on_prefix_notices_with_qos1(mosquitto: Mosquitto) -> None:
    link = MqttLink.from_url(mosquitto.url)
    message = render(many(4), "mqtt", "zh", DASHBOARD)
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as listener:
        await listener.subscribe("smartsite/demo/notices", qos=1)
        async with channel_for("mqtt", "platform", link=link, topic_prefix="smartsite/demo") as channel:
            await channel.send(message)
            await channel.send(render([notice()], "mqtt", "en"))
        received = []
        async with asyncio.timeout(5):
            async for got in listener.messages:
                received.append(got)
                if len(received) == 2:
                    break
    first = json.loads(received[0].payload)
    assert received[0].qos == 1
    assert first["count"] == 4 and [n["id"] for n in first["notices"]] == list(message.notice_ids)
    assert json.loads(received[1].payload)["language"] == "en"


async def test_mqtt_broker_down_is_retryable_and_recovers(mosquitto: Mosquitto) -> None:
    channel = MqttNoticeChannel("platform", MqttLink.from_url(mosquitto.url), "smartsite/demo", timeout_s=2)
    async with channel:
        await channel.send(render([notice()], "mqtt"))
        mosquitto.stop()
        with pytest.raises(RetryableSinkError, match="MQTT publish"):
            await channel.send(render([notice()], "mqtt"))
        mosquitto.start()
        await channel.send(render([notice()], "mqtt"))


async def test_mqtt_nobody_listening_is_retryable() -> None:
    link = MqttLink(host="127.0.0.1", port=free_port())
    async with MqttNoticeChannel("platform", link, "smartsite/demo", timeout_s=2) as channel:
        with pytest.raises(RetryableSinkError):
            await channel.send(render([notice()], "mqtt"))


def _receiver(**data: object) -> ReceiverConfig:
    adapter: TypeAdapter[ReceiverConfig] = TypeAdapter(ReceiverConfig)  # type: ignore[arg-type]
    return adapter.validate_python(data)


def test_build_channel_reads_secrets_from_the_environment() -> None:
    env = {"HOOK_TOKEN": "t", "DT_TOKEN": "dt", "DT_SECRET": "SEC", "WC_KEY": "k", "MAIL_PW": "pw"}
    hook = build_channel(
        _receiver(id="h", type="webhook", url="https://x.example/h", token_env="HOOK_TOKEN"), env=env
    )
    assert isinstance(hook, WebhookChannel)
    wecom = build_channel(_receiver(id="w", type="wecom", key_env="WC_KEY"), env=env)
    assert isinstance(wecom, WeComChannel) and wecom.url.endswith("/webhook/send?key=k")
    ding = build_channel(
        _receiver(id="d", type="dingtalk", token_env="DT_TOKEN", secret_env="DT_SECRET"), env=env
    )
    assert isinstance(ding, DingTalkChannel) and "access_token=dt" in ding.signed_url()
    assert "&sign=" in ding.signed_url()
    mail = build_channel(
        _receiver(
            id="m",
            type="email",
            host="smtp.x.example",
            sender="gw@x",
            to=["a@x"],
            username="gw",
            password_env="MAIL_PW",
        ),
        env=env,
    )
    assert isinstance(mail, EmailChannel) and mail.starttls
    platform = build_channel(
        _receiver(id="p", type="mqtt"),
        broker_link=lambda url: MqttLink.from_url(url or "mqtt://broker.local:1883"),
        topic_prefix="smartsite/demo",
    )
    assert isinstance(platform, MqttNoticeChannel) and platform.topic == "smartsite/demo/notices"
    assert platform.link.host == "broker.local"


def test_build_channel_refuses_an_unset_secret_and_bad_receivers() -> None:
    with pytest.raises(ConfigError, match="DT_SECRET is not set"):
        build_channel(
            _receiver(
                id="d", type="dingtalk", url="https://x.example/?access_token=a", secret_env="DT_SECRET"
            ),
            env={},
        )
    with pytest.raises(ConfigError, match="url or its key"):
        build_channel(_receiver(id="w", type="wecom"), env={})
    with pytest.raises(ConfigError, match="STARTTLS"):
        build_channel(
            _receiver(id="m", type="email", host="smtp.x.example", starttls=False, sender="a@x", to=["b@x"])
        )
    with pytest.raises(ConfigError, match="no broker"):
        build_channel(_receiver(id="p", type="mqtt"))


async def test_built_dingtalk_channel_passes_the_robots_signature_check(http: HttpRecorder) -> None:
    alarms = AlarmsConfig(
        language="en",
        dashboard_url=DASHBOARD,
        receivers=[
            _receiver(
                id="d",
                type="dingtalk",
                base_url=http.url("/dingtalk"),
                token_env="T",
                secret_env="S",
                language="zh",
            )
        ],
    )
    receiver = alarms.receivers[0]
    async with build_channel(receiver, env={"T": "tok", "S": DINGTALK_SECRET}) as channel:
        await channel.send(render_for(receiver, alarms, many(3, receiver="d")))
    [request] = http.on("/dingtalk")
    assert http.bad_signatures == 0
    assert request.json()["markdown"]["title"].startswith("智慧工地报警通知 3 条")
