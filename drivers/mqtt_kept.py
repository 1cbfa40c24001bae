"""An MQTT connection made at the first publish and kept, for the senders that publish now and then
(notices, weather warnings): when a publish fails the connection is dropped, the send fails as
retryable and the next send connects again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import aiomqtt

from drivers.mqtt_link import MqttLink
from gateway.vocab import RetryableSinkError


class KeptConnection:
    def __init__(self, link: MqttLink, identifier: str, timeout_s: float) -> None:
        self.link = link
        self.identifier = identifier
        self.timeout_s = timeout_s
        self._client: aiomqtt.Client | None = None

    async def publish(self, sender: str, topic: str, payloads: Iterable[bytes]) -> None:
        """Each payload at QoS 1, in order, each acknowledged before the next; RetryableSinkError
        naming ``sender`` when the broker cannot be reached or does not acknowledge."""
        try:
            client = await self._connected()
            for payload in payloads:
                await client.publish(topic, payload, qos=1, timeout=self.timeout_s)
        except (aiomqtt.MqttError, TimeoutError, OSError) as exc:
            await self.drop()
            reason = str(exc) or type(exc).__name__
            raise RetryableSinkError(sender, f"MQTT publish to {self.link.describe()}: {reason}") from exc

    async def drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError, RuntimeError):
                async with asyncio.timeout(1.0):
                    await client.__aexit__(None, None, None)

    async def _connected(self) -> aiomqtt.Client:
        if self._client is None:
            client = self.link.client(identifier=self.identifier)
            async with asyncio.timeout(self.timeout_s):
                await client.__aenter__()
            self._client = client
        return self._client
