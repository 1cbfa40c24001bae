"""The contract every notification channel follows, the message it sends, and the factory.

A channel is an async context manager: enter it before the first ``send``; ``send`` is never called
after exit. ``send`` returns only when the receiver accepted the message (HTTP 2xx and, for the
group robots, ``errcode`` 0; SMTP accepted; MQTT PUBACK). It raises RetryableSinkError when the
message should be offered again later (network, timeout, 5xx, 429, rate limit, an answer it cannot
read) and SinkRejectedError when the receiver refused this message for good (4xx other than 408 and
429, an errcode saying the message is malformed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from drivers.outlet import Outlet


@dataclass(frozen=True, slots=True)
class Rendered:
    """One message for one receiver, rendered for its channel.

    ``text`` is what a text channel sends: markdown for WeCom and DingTalk (already cut to the
    robot's size limit), plain text for e-mail. ``document`` is the JSON document the webhook posts
    and MQTT publishes; it lists every notice. ``notice_ids`` are the notices inside, all of them.
    """

    title: str
    text: str
    document: Mapping[str, Any] = field(default_factory=dict)
    notice_ids: tuple[str, ...] = ()


class Channel(Outlet, Protocol):
    """A receiver's channel; ``name`` is the receiver id, used in errors and logs."""

    async def send(self, message: Rendered) -> None: ...


CHANNEL_TYPES = ("webhook", "wecom", "dingtalk", "email", "mqtt")
