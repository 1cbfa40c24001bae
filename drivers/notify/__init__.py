"""Notification channels for alarm pushes: webhook, WeCom and DingTalk robots, e-mail, MQTT.

Each takes plain parameters (URLs, secrets already read from the environment by the caller) and
follows the ``Channel`` contract in ``base``.
"""

from drivers.notify.contract import CHANNEL_TYPES, Channel, Rendered
from drivers.notify.dingtalk import DingTalkChannel, dingtalk_sign
from drivers.notify.email import EmailChannel
from drivers.notify.factory import channel_for
from drivers.notify.mqtt import MqttNoticeChannel
from drivers.notify.webhook import WebhookChannel
from drivers.notify.wecom import WeComChannel

__all__ = [
    "CHANNEL_TYPES",
    "Channel",
    "DingTalkChannel",
    "EmailChannel",
    "MqttNoticeChannel",
    "Rendered",
    "WeComChannel",
    "WebhookChannel",
    "channel_for",
    "dingtalk_sign",
]
