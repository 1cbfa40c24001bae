"""Weather warnings to the platform over MQTT: one JSON message per change on ``<prefix>/warnings``.

QoS 1, sent in order; the broker's PUBACK is the acceptance. The connection is made at the first
send and kept; when it breaks, the send fails as retryable and the next send connects again. A
message may arrive twice after a lost PUBACK: consumers drop duplicates by its ``id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from drivers.mqtt_kept import KeptConnection
from drivers.mqtt_link import MqttLink


class WarningUplink:
    def __init__(self, link: MqttLink, topic_prefix: str, client_id: str, timeout_s: float = 10.0) -> None:
        self.link = link
        self.topic = f"{topic_prefix.rstrip('/')}/warnings"
        self.timeout_s = timeout_s
        self._connection = KeptConnection(link, client_id, timeout_s)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._connection.drop()

    async def send(self, payloads: Sequence[bytes]) -> None:
        """Publish each in order; raises RetryableSinkError when the broker cannot be reached."""
        await self._connection.publish("warnings", self.topic, payloads)
