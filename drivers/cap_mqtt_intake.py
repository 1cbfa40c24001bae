"""CAP documents over MQTT: the gateway subscribes to a topic the platform publishes warnings on.

Each message's payload is one CAP document, handed to ``handle`` as bytes (the warning desk parses
and applies it; a refused one is counted and logged there, and the loop goes on). QoS 1 on a
persistent session under a fixed client id, so warnings published while the gateway restarts are
delivered when it is back; a message delivered twice is recognised by the desk (same sender,
identifier and sent). The connection is kept: after a failure, reconnect with a capped backoff.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable

import aiomqtt

from drivers.mqtt_link import MqttLink
from drivers.outage import Backoff, OutageLog

log = logging.getLogger(__name__)


class CapMqttIntake:
    def __init__(
        self,
        link: MqttLink,
        topic: str,
        client_id: str,
        handle: Callable[[bytes], Awaitable[None]],
    ) -> None:
        self.link = link
        self.topic = topic
        self._identifier = client_id
        self._handle = handle
        self._outage = OutageLog(log, f"CAP warnings over MQTT ({link.describe()} {topic})")
        self.connected = False
        self.messages = 0

    async def run(self) -> None:
        backoff = Backoff(first=0.2, cap=30.0)
        while True:
            try:
                async with self.link.client(identifier=self._identifier, clean_session=False) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.connected = True
                    self._outage.recovered()
                    backoff.reset()
                    async for message in client.messages:
                        payload = message.payload
                        self.messages += 1
                        await self._handle(payload if isinstance(payload, bytes) else str(payload).encode())
            except aiomqtt.MqttError as exc:
                self._outage.failed(str(exc) or type(exc).__name__)
            except (ssl.SSLError, OSError) as exc:
                self._outage.failed(f"TLS set-up failed: {exc}")
            finally:
                self.connected = False
            await asyncio.sleep(backoff.next_delay())
