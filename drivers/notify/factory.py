"""Build a receiver's channel by its type, from plain parameters."""

from __future__ import annotations

from typing import Any

from drivers.notify.contract import CHANNEL_TYPES, Channel
from drivers.notify.dingtalk import DingTalkChannel
from drivers.notify.email import EmailChannel
from drivers.notify.mqtt import MqttNoticeChannel
from drivers.notify.webhook import WebhookChannel
from drivers.notify.wecom import WeComChannel


def channel_for(type: str, name: str, **params: Any) -> Channel:
    """Build the channel of ``type`` ("webhook", "wecom", "dingtalk", "email", "mqtt").

    ``params`` are the channel class's own keyword arguments (plain values: url, secret, host ...);
    secrets are resolved by the caller. Raises ValueError for an unknown type or bad parameters.
    """
    classes: dict[str, Any] = {
        "webhook": WebhookChannel,
        "wecom": WeComChannel,
        "dingtalk": DingTalkChannel,
        "email": EmailChannel,
        "mqtt": MqttNoticeChannel,
    }
    cls = classes.get(type)
    if cls is None:
        raise ValueError(f"unknown notification channel type {type!r}; known: {', '.join(CHANNEL_TYPES)}")
    try:
        channel: Channel = cls(name=name, **params)
    except TypeError as exc:
        raise ValueError(f"{type} channel {name!r}: {exc}") from exc
    return channel
