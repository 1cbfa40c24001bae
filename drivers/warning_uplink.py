"""Weather warnings to the platform over MQTT: one JSON message per change on ``<prefix>/warnings``.

QoS 1, sent in order; the broker's PUBACK is the acceptance. The connection is made at the first
send and kept; when it breaks, the send fails as retryable and the next send connects again. A
message may arrive twice after a lost PUBACK: consumers drop duplicates by its ``id``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Self

import aiomqtt

from drivers.mqtt_link import MqttLink
from gateway.vocab import RetryableSinkError


class WarningUplink:
    def __init__(self, link: MqttLink, topic_prefix: str, client_id: str, timeout_s: float = 10.0) -> None:
        self.link = link
        self.topic = f"{topic_prefix.rstrip('/')}/warnings"
        self.timeout_s = timeout_s
        self._identifier = client_id
        self._client: aiomqtt.Client | None = None

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

    async def send(self, payloads: Sequence[bytes]) -> None:
        """Publish each in order; raises RetryableSinkError when the broker cannot be reached."""
        try:
            if self._client is None:
                client = self.link.client(identifier=self._identifier)
                async with asyncio.timeout(self.timeout_s):
                    await client.__aenter__()
                self._client = client
            for payload in payloads:
                await self._client.publish(self.topic, payload, qos=1, timeout=self.timeout_s)
        except (aiomqtt.MqttError, TimeoutError, OSError) as exc:
            await self._drop()
            reason = str(exc) or type(exc).__name__
            raise RetryableSinkError("warnings", f"MQTT publish to {self.link.describe()}: {reason}") from exc
