"""MQTT JSON sensors (aiomqtt): subscribe, decode, yield batches; reconnect and resubscribe forever."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo

import aiomqtt

from drivers import mqtt_bulk_read
from drivers.device_time import TIME_REASONS
from drivers.mqtt_link import MqttLink
from drivers.mqtt_payload import Decoded, DeviceBinding, decode_payload
from drivers.outage import Backoff, OutageLog
from gateway.vocab import ReadingBatch, SourceBatch

log = logging.getLogger(__name__)

# Told each message's clock offset: (device, arrival time, newest device stamp - arrival).
ClockWatch = Callable[[str, float, float], None]

UNKNOWN_DEVICE = "(unknown device)"
# Messages taken from the client in one go: all that arrived while the analytics ran, so one
# batch (one pass, one commit) carries many messages when the load is high.
DRAIN_MESSAGES = 2000


@dataclass(slots=True)
class DeviceStats:
    messages: int = 0
    readings: int = 0
    last_message_ts: float | None = None
    rejected: Counter[str] = field(default_factory=Counter)


class MqttSource:
    """Readings from devices that publish the contract's JSON payload.

    Use as ``async with source: async for batch in source.batches(): ...``. Broker outages are
    retried with capped, jittered backoff and logged once each; subscriptions are renewed on every
    connect. A bad message is counted for its device and logged once per device and kind of problem.
    """

    def __init__(
        self,
        link: MqttLink,
        device_topics: dict[str, DeviceBinding],
        wildcard: str | None,
        naive_tz: tzinfo,
        clock: Callable[[], float] = time.time,
        name: str = "mqtt-in",
        identifier: str | None = None,
        persistent_session: bool = False,
        ack_after_store: bool = False,
        clock_watch: ClockWatch | None = None,
    ) -> None:
        self._link = link
        self._topics = device_topics
        self._wildcard = wildcard
        self._tz = naive_tz
        self._clock = clock
        self.name = name
        # A persistent session needs the same client id every time: the broker keeps the QoS 1
        # messages that arrive for it while the gateway restarts.
        self._persistent = persistent_session and identifier is not None
        self._identifier = identifier or f"smartsite-in-{uuid.uuid4().hex[:12]}"
        self._outage = OutageLog(log, f"MQTT input {link.describe()}")
        self._logged: set[tuple[str, str]] = set()
        # Time refusals of each device's current episode (logged once, summed up when it ends).
        self._time_episode: dict[str, Counter[str]] = {}
        self._clock_watch = clock_watch
        # Acknowledge a QoS 1 message to the broker only when the gateway stored its readings
        # (the ``ack`` of each SourceBatch); only a persistent session makes the broker deliver it again.
        self._ack_after_store = ack_after_store and self._persistent
        self._generation = 0
        self.stats: dict[str, DeviceStats] = {b.device: DeviceStats() for b in device_topics.values()}
        self.connected = False

    async def __aenter__(self) -> MqttSource:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.connected = False

    def subscriptions(self) -> list[str]:
        topics = [self._wildcard] if self._wildcard else []
        for topic in self._topics:
            if not (self._wildcard and aiomqtt.Topic(topic).matches(self._wildcard)):
                topics.append(topic)
        return topics

    async def batches(self) -> AsyncIterator[SourceBatch]:
        backoff = Backoff()
        while True:
            try:
                clean = not self._persistent
                client = self._link.client(identifier=self._identifier, clean_session=clean)
                if self._ack_after_store:
                    client._client.manual_ack_set(True)  # aiomqtt has no manual-ack API of its own
                mqtt_bulk_read.install(client, manual_ack=self._ack_after_store)
                async with client:
                    self._generation += 1
                    for topic in self.subscriptions():
                        await client.subscribe(topic, qos=1)
                    self.connected = True
                    self._outage.recovered()
                    backoff.reset()
                    queue = client._queue  # aiomqtt's own queue: drained without a task per message
                    async for item in client.messages:
                        group = mqtt_bulk_read.messages_of(item)
                        while len(group) < DRAIN_MESSAGES and not queue.empty():
                            group += mqtt_bulk_read.messages_of(queue.get_nowait())
                        batch, ack, owed = self._take(client, group)
                        if batch is None:
                            ack()  # all refused (counted): nothing to store, nothing to redeliver
                            continue
                        yield SourceBatch(batch, ack, owed)
            except aiomqtt.MqttError as exc:
                self.connected = False
                self._outage.failed(str(exc) or type(exc).__name__)
            await asyncio.sleep(backoff.next_delay())

    def _take(
        self, client: aiomqtt.Client, messages: Sequence[mqtt_bulk_read.Publish]
    ) -> tuple[ReadingBatch | None, Callable[[], None], int]:
        """Decode the messages into one batch, with one acknowledgement for all of them."""
        into = Decoded()
        arrival = self._clock()  # all of them came in within one event-loop turn
        for topic, payload, _, _ in messages:
            self._decode_into(topic, payload, into, arrival)
        owed = [mid for _, _, mid, qos in messages if qos > 0] if self._ack_after_store else []
        ack = self._acknowledger(client, owed) if owed else _nothing
        if not into.ts:
            return None, ack, len(owed)
        return ReadingBatch.from_lists(into.ts, into.channel, into.value, into.quality), ack, len(owed)

    def _acknowledger(self, client: aiomqtt.Client, mids: list[int]) -> Callable[[], None]:
        generation = self._generation

        def ack() -> None:
            # Only on the connection that delivered them: after a reconnect the broker sends the
            # unacknowledged ones again (and the store keeps one of each).
            if self.connected and generation == self._generation:
                mqtt_bulk_read.send_pubacks(client, mids)

        return ack

    def _decode(self, topic: str, payload: object) -> ReadingBatch | None:
        """One message's readings (None when it has none)."""
        into = Decoded()
        self._decode_into(topic, payload, into)
        if not into.ts:
            return None
        return ReadingBatch.from_lists(into.ts, into.channel, into.value, into.quality)

    def _decode_into(self, topic: str, payload: object, into: Decoded, arrival: float | None = None) -> None:
        """Add one message's readings to ``into``'s lists (refusals counted and logged)."""
        arrival = self._clock() if arrival is None else arrival
        binding = self._topics.get(topic)
        if binding is None:
            device = _device_from_topic(topic) or topic
            self._reject(
                UNKNOWN_DEVICE,
                "unknown_device",
                f"message on {topic!r} from undeclared device {device!r}",
            )
            return
        stats = self.stats[binding.device]
        stats.messages += 1
        stats.last_message_ts = arrival
        if not isinstance(payload, (bytes, bytearray)):
            payload = b"" if payload is None else str(payload).encode()
        decoded = decode_payload(bytes(payload), binding, arrival, self._tz)
        if decoded.malformed is not None:
            self._reject(binding.device, "malformed", decoded.malformed)
            return
        for kind, count in decoded.problems.items():
            self._reject(binding.device, kind, decoded.details.get(kind, kind), count)
        self._time_episodes(binding.device, decoded.problems, decoded.newest_stamp is not None)
        # A clock declared untrusted (time_source: gateway) is not reported.
        watch = self._clock_watch if binding.time.source != "gateway" else None
        if decoded.newest_stamp is not None and watch is not None:
            watch(binding.device, arrival, decoded.newest_stamp - arrival)
        stats.readings += len(decoded.ts)
        into.ts += decoded.ts
        into.channel += decoded.channel
        into.value += decoded.value
        into.quality += decoded.quality

    def _reject(self, device: str, kind: str, detail: str, count: int = 1) -> None:
        stats = self.stats.setdefault(device, DeviceStats())
        stats.rejected[kind] += count
        if (device, kind) not in self._logged:
            self._logged.add((device, kind))
            log.warning("device %s: %s (%s); further ones are only counted", device, kind, detail)

    def _time_episodes(self, device: str, problems: dict[str, int], stamped: bool) -> None:
        """A time refusal is logged once per episode: the first message whose stamps all pass ends it."""
        if not problems and device not in self._time_episode:
            return  # the usual case, without building a Counter per message
        refused = Counter({k: n for k, n in problems.items() if k in TIME_REASONS})
        if refused:
            self._time_episode.setdefault(device, Counter()).update(refused)
            return
        episode = self._time_episode.pop(device, None)
        if episode is None or not stamped:
            return
        for kind in episode:
            self._logged.discard((device, kind))
        summary = ", ".join(f"{n} {k}" for k, n in sorted(episode.items()))
        log.warning("device %s: readings stamped in time again (meanwhile %s)", device, summary)

    def time_rejected(self) -> Counter[str]:
        """Readings refused or clamped for their time, over all devices, by reason."""
        total: Counter[str] = Counter()
        for s in self.stats.values():
            total.update({k: n for k, n in s.rejected.items() if k in TIME_REASONS})
        return total

    def rejected_total(self) -> dict[str, dict[str, int]]:
        return {d: dict(s.rejected) for d, s in self.stats.items() if s.rejected}


def _device_from_topic(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) >= 3 and parts[-1] == "up" and parts[-3] == "devices":
        return parts[-2]
    return None


def _nothing() -> None:
    return None
