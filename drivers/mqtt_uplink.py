"""The platform uplink over MQTT: readings, alarm events and crane cycles, QoS 1, acknowledged.

Topics under the prefix (``smartsite/<site>`` by default): ``telemetry`` (a chunk of readings per
message, see ``drivers.telemetry_json``), ``alarms`` (one alarm event per message), ``cycles`` (one
crane working cycle per message), and ``status``: retained ``online``, and ``offline`` as the last
will, so the platform learns of a dead gateway or a cut link without waiting for us.

The session is persistent (MQTT 3.1.1 clean session off, or MQTT 5 with a session expiry) under a
fixed client id. ``send`` returns only when the broker acknowledged every message (PUBACK); a
message may then arrive twice after a lost PUBACK, and consumers drop duplicates by ``id``/``seq``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Sequence

import aiomqtt

from drivers.mqtt_link import MqttLink
from drivers.outage import Backoff, OutageLog
from drivers.telemetry_json import encode_readings
from gateway.vocab import ChannelMeta, Delivery, ForwardChunk, RecordKind, RetryableSinkError

log = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"


class MqttUplink:
    """A forwarding destination (``drivers.destination.Destination``).

    A background task keeps the connection. While it is down, ``send`` raises RetryableSinkError
    and the chunk stays queued. ``send`` is never called after ``__aexit__``.
    """

    kind = "mqtt"
    # Readings messages in flight at once: a busy gateway reads each PUBACK late, and one at a time
    # would cap the uplink at one message per loop turn (the broker allows 20 by default).
    in_flight = 4

    def __init__(
        self,
        link: MqttLink,
        topic_prefix: str,
        channels: Sequence[ChannelMeta],
        client_id: str,
        name: str = "mqtt",
        publish_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self._link = link
        self._channels = channels
        self.telemetry_topic = f"{topic_prefix}/telemetry"
        self.alarms_topic = f"{topic_prefix}/alarms"
        self.cycles_topic = f"{topic_prefix}/cycles"
        self.status_topic = f"{topic_prefix}/status"
        self._timeout = publish_timeout
        self._identifier = client_id
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._outage = OutageLog(log, f"MQTT uplink {link.describe()}")
        self.messages_published = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def __aenter__(self) -> MqttUplink:
        self._task = asyncio.create_task(self._keep_connected(), name=f"uplink:{self.name}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
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
        backoff = Backoff(first=0.2, cap=30.0)
        while True:
            try:
                client = self._link.client(identifier=self._identifier, will=will, clean_session=False)
                async with client:
                    await client.publish(self.status_topic, ONLINE, qos=1, retain=True)
                    self._client = client
                    self._connected.set()
                    self._outage.recovered()
                    backoff.reset()
                    # Nothing is subscribed; the iterator ends with an error when the link drops.
                    async for _ in client.messages:
                        pass
            except aiomqtt.MqttError as exc:
                self._outage.failed(_reason(exc, tls=self._link.tls))
            except (ssl.SSLError, OSError) as exc:  # a bad CA file or client certificate
                self._outage.failed(f"TLS set-up failed: {exc}")
            finally:
                self._connected.clear()
                self._client = None
            await asyncio.sleep(backoff.next_delay())

    async def send(self, chunk: ForwardChunk) -> Delivery:
        client = self._client
        if client is None or not self.connected:
            raise RetryableSinkError(self.name, "not connected to the broker")
        if chunk.kind == RecordKind.READINGS:
            messages = [(self.telemetry_topic, encode_readings(chunk, self._channels))]
        else:
            topic = self.alarms_topic if chunk.kind == RecordKind.EVENTS else self.cycles_topic
            messages = [(topic, doc.encode()) for doc in chunk.documents]
        try:
            # All in flight at once; each publish returns on its PUBACK.
            await asyncio.gather(
                *(client.publish(topic, payload, qos=1, timeout=self._timeout) for topic, payload in messages)
            )
        except (aiomqtt.MqttError, TimeoutError) as exc:
            raise RetryableSinkError(self.name, f"publish failed: {_reason(exc)}") from exc
        self.messages_published += len(messages)
        return Delivery()


def _reason(exc: BaseException, tls: bool = False) -> str:
    text = str(exc) or type(exc).__name__
    if "CERTIFICATE" in text.upper() or "SSL" in text.upper():
        return f"TLS handshake failed (never retried as plain text): {text}"
    lowered = text.lower()
    if tls and ("reset" in lowered or "eof" in lowered or "wrong version" in lowered):
        # What a plain-MQTT listener does to a TLS hello: it hangs up.
        return (
            f"TLS handshake failed: the broker hung up ({text}); is this port a plain MQTT listener? "
            "mqtts:// needs a TLS one (never retried as plain text)"
        )
    if "not authori" in text.lower() or "bad user name or password" in text.lower():
        return f"refused by the broker: check username and password ({text})"
    return text
