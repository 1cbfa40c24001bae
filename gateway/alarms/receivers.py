"""Receivers of the site file → notification channels, with their secrets read from the environment.

The drivers take plain values; this is where the config's ``*_env`` names become tokens, keys,
secrets and passwords. A named variable that is not set is a configuration error, reported before
anything is sent, never a push that silently goes out unsigned or unauthenticated.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

from drivers.mqtt_link import MqttLink
from drivers.notify import (
    Channel,
    DingTalkChannel,
    EmailChannel,
    MqttNoticeChannel,
    Rendered,
    WebhookChannel,
    WeComChannel,
)
from gateway.alarms.notice import Notice
from gateway.alarms.render import render, render_pages
from gateway.config.alarm_handling import (
    AlarmsConfig,
    DingTalkReceiver,
    EmailReceiver,
    MqttReceiver,
    ReceiverConfig,
    WebhookReceiver,
    WeComReceiver,
)
from gateway.like_named import like_named
from gateway.vocab import ConfigError


def _secret(receiver_id: str, field: str, name: str | None, env: Mapping[str, str]) -> str | None:
    if not name:
        return None
    value = env.get(name)
    if not value:
        raise ConfigError(
            [f"alarms.receivers[{receiver_id}].{field}: environment variable {name} is not set"]
        )
    return value


def build_channel(
    receiver: ReceiverConfig,
    *,
    env: Mapping[str, str] | None = None,
    broker_link: Callable[[str | None], MqttLink] | None = None,
    topic_prefix: str = "smartsite",
) -> Channel:
    """The channel for one receiver (not entered yet).

    ``broker_link(url)`` gives the MQTT link for a broker URL, or for the site's broker when the URL
    is None (the runtime's, with the site's credentials); ``topic_prefix`` is the site's prefix, used
    when the receiver names none. Raises ConfigError for a secret whose variable is unset, or a
    receiver the channel cannot take.
    """
    env = os.environ if env is None else env
    rid = receiver.id
    try:
        # The channels take the receiver's own fields by name; the secrets come from the environment.
        if isinstance(receiver, WebhookReceiver):
            token = _secret(rid, "token_env", receiver.token_env, env)
            return like_named(WebhookChannel, receiver, name=rid, token=token)
        if isinstance(receiver, WeComReceiver):
            key = _secret(rid, "key_env", receiver.key_env, env)
            return like_named(WeComChannel, receiver, name=rid, key=key)
        if isinstance(receiver, DingTalkReceiver):
            token = _secret(rid, "token_env", receiver.token_env, env)
            secret = _secret(rid, "secret_env", receiver.secret_env, env)
            return like_named(DingTalkChannel, receiver, name=rid, token=token, secret=secret)
        if isinstance(receiver, EmailReceiver):
            password = _secret(rid, "password_env", receiver.password_env, env)
            return like_named(EmailChannel, receiver, name=rid, password=password)
        if isinstance(receiver, MqttReceiver):
            if broker_link is not None:
                link = broker_link(receiver.broker)
            elif receiver.broker:
                link = MqttLink.from_url(receiver.broker)
            else:
                raise ConfigError([f"alarms.receivers[{rid}]: no broker given and no site broker known"])
            return MqttNoticeChannel(
                rid, link, receiver.topic_prefix or topic_prefix, timeout_s=receiver.timeout_s
            )
    except ValueError as exc:
        raise ConfigError([f"alarms.receivers[{rid}]: {exc}"]) from exc
    raise ConfigError([f"alarms.receivers[{rid}]: unknown receiver type {receiver.type!r}"])


def language_of(receiver: ReceiverConfig, alarms: AlarmsConfig) -> str:
    return receiver.language or alarms.language


def render_for(receiver: ReceiverConfig, alarms: AlarmsConfig, notices: Sequence[Notice]) -> Rendered:
    """The one message that tells ``receiver`` about ``notices``, in its language, for its channel."""
    return render(notices, receiver.type, language_of(receiver, alarms), alarms.dashboard_url)


def pages_for(receiver: ReceiverConfig, alarms: AlarmsConfig, notices: Sequence[Notice]) -> list[Rendered]:
    """The messages that together tell ``receiver`` about every notice (robots have a size limit)."""
    return render_pages(notices, receiver.type, language_of(receiver, alarms), alarms.dashboard_url)
