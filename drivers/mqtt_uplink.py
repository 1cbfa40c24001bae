"""Alarm events to the platform over MQTT (QoS 1) with a retained online/offline status.

The broker holds ``<prefix>/status`` = ``offline`` as our last will, so the platform learns of a dead
gateway or a cut link without waiting for us.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from types import TracebackType

import aiomqtt

from drivers.mqtt_link import MqttLink
from drivers.outage import Backoff, OutageLog
from gateway.errors import RetryableSinkError
from gateway.models import SinkBatch

log = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"


class MqttUplink:
    """Sink publishing alarm events on ``<prefix>/alarms``.

    A background task keeps the connection. While it is down, ``write`` raises RetryableSinkError
    and the pipeline keeps the batch: events raised during an outage go out once the broker is
    back. An event may be published twice after a failed PUBACK; consumers drop duplicates by ``id``.
    ``write`` is never called after ``__aexit__``.
    """

    name = "mqtt"
    reports_outages = True

    def __init__(self, link: MqttLink, topic_prefix: str, publish_timeout: float = 5.0) -> None:
        self._link = link
        self.alarms_topic = f"{topic_prefix}/alarms"
        self.status_topic = f"{topic_prefix}/status"
        self._timeout = publish_timeout
        self._identifier = f"smartsite-up-{uuid.uuid4().hex[:12]}"
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._outage = OutageLog(log, f"MQTT uplink {link.describe()}")
        self.events_published = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def __aenter__(self) -> MqttUplink:
        self._task = asyncio.create_task(self._keep_connected(), name="mqtt-uplink")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client = self._client
        if client is not None and self.connected:
            # A clean goodbye: the broker discards the will, so say offline ourselves.
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await client.publish(self.status_topic, OFFLINE, qos=1, retain=True, timeout=1.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_connected(self, within_s: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), within_s)
        except TimeoutError:
            return False
        return True

    async def _keep_connected(self) -> None:
        will = aiomqtt.Will(self.status_topic, OFFLINE, qos=1, retain=True)
        backoff = Backoff()
        while True:
            try:
                async with self._link.client(identifier=self._identifier, will=will) as client:
                    await client.publish(self.status_topic, ONLINE, qos=1, retain=True)
                    self._client = client
                    self._connected.set()
                    self._outage.recovered()
                    backoff.reset()
                    # Nothing is subscribed; the iterator ends with an error when the link drops.
                    async for _ in client.messages:
                        pass
            except aiomqtt.MqttError as exc:
                self._outage.failed(str(exc) or type(exc).__name__)
            finally:
                self._connected.clear()
                self._client = None
            await asyncio.sleep(backoff.next_delay())

    async def write(self, batch: SinkBatch) -> None:
        if not batch.events:
            return
        client = self._client
        if client is None or not self.connected:
            raise RetryableSinkError(self.name, "not connected to the broker")
        try:
            for event in batch.events:
                await client.publish(
                    self.alarms_topic, event.to_json().encode(), qos=1, timeout=self._timeout
                )
                self.events_published += 1
        except (aiomqtt.MqttError, TimeoutError) as exc:
            raise RetryableSinkError(self.name, f"publish failed: {exc}") from exc
