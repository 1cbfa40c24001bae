"""Notices to the platform over MQTT: the JSON document on ``<prefix>/notices``, QoS 1.

The broker's PUBACK is the acceptance. The connection is made at the first send and kept; when it
breaks, the send fails as retryable and the next send connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Self

import aiomqtt

from drivers.mqtt_link import MqttLink
from drivers.notify.contract import Rendered
from gateway.vocab import RetryableSinkError


class MqttNoticeChannel:
    kind = "mqtt"

    def __init__(self, name: str, link: MqttLink, topic_prefix: str, timeout_s: float = 5.0) -> None:
        self.name = name
        self.link = link
        self.topic = f"{topic_prefix.rstrip('/')}/notices"
        self.timeout_s = timeout_s
        self._identifier = f"smartsite-notify-{uuid.uuid4().hex[:12]}"
        self._client: aiomqtt.Client | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._drop()

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError, RuntimeError):
                async with asyncio.timeout(1.0):
                    await client.__aexit__(None, None, None)

    async def _connected(self) -> aiomqtt.Client:
        if self._client is None:
            client = self.link.client(identifier=self._identifier)
            async with asyncio.timeout(self.timeout_s):
                await client.__aenter__()
            self._client = client
        return self._client

    async def send(self, message: Rendered) -> None:
        payload = json.dumps(message.document, ensure_ascii=False, separators=(",", ":")).encode()
        async with self._lock:
            try:
                client = await self._connected()
                await client.publish(self.topic, payload, qos=1, timeout=self.timeout_s)
            except (aiomqtt.MqttError, TimeoutError, OSError) as exc:
                await self._drop()
                reason = str(exc) or type(exc).__name__
                where = self.link.describe()
                raise RetryableSinkError(self.name, f"MQTT publish to {where}: {reason}") from exc
