"""Notices to the platform over MQTT: the JSON document on ``<prefix>/notices``, QoS 1.

The broker's PUBACK is the acceptance. The connection is made at the first send and kept; when it
breaks, the send fails as retryable and the next send connects again.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Self

from drivers.mqtt_kept import KeptConnection
from drivers.mqtt_link import MqttLink
from drivers.notify.contract import Rendered


class MqttNoticeChannel:
    kind = "mqtt"

    def __init__(self, name: str, link: MqttLink, topic_prefix: str, timeout_s: float = 5.0) -> None:
        self.name = name
        self.link = link
        self.topic = f"{topic_prefix.rstrip('/')}/notices"
        self.timeout_s = timeout_s
        self._connection = KeptConnection(link, f"smartsite-notify-{uuid.uuid4().hex[:12]}", timeout_s)
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._connection.drop()

    async def send(self, message: Rendered) -> None:
        payload = json.dumps(message.document, ensure_ascii=False, separators=(",", ":")).encode()
        async with self._lock:
            await self._connection.publish(self.name, self.topic, [payload])
