"""The live feed: one sink that turns every batch into server-sent events for any number of clients.

Each event is encoded once and the same bytes are queued for every client, so the cost of a client
is a queue slot, not a JSON encoding. Readings are decimated per channel to the client's rate
(a few fixed rates, each decimated once for all its clients); alarm events, people's actions on
alarms, crane cycles and device states are kept in a bounded history, so a client that reconnects
with ``Last-Event-ID`` gets what it missed, or a ``reset`` when that has left the history.

A client whose queue is full (it does not read) is dropped: the feed never waits for anyone, and
``write`` never raises, so the pipeline's sink worker is never held up.

Lifecycle: ``write`` and ``publish`` work at any time (views stay current); clients can subscribe
only while the feed is open (entered), and all are ended when it closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gateway.live.latest import LatestReadings, newest_per_channel
from gateway.live.rounding import Rounding
from gateway.vocab import Quality, ReadingBatch, SinkBatch, iso_utc

log = logging.getLogger(__name__)

RATES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # readings per second per channel a client may ask for
DEFAULT_RATE = 1.0
HISTORY_EVENTS = 2000
CLIENT_QUEUE = 500
MAX_CLIENTS = 100
DEVICE_CHECK_S = 1.0


@dataclass(frozen=True, slots=True)
class LiveEvent:
    id: str | None  # None for readings: they are not kept, so a client resumes past them
    kind: str
    wire: bytes  # the whole SSE frame


def frame(kind: str, data: Any, event_id: str | None = None) -> bytes:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    head = f"event: {kind}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return (head + f"data: {text}\n\n").encode()


def snap_rate(rate: float) -> float:
    """The fastest offered rate not above ``rate`` (the slowest if below them all)."""
    return max((r for r in RATES if r <= rate + 1e-9), default=RATES[0])


class Subscription:
    def __init__(self, rate: float, maxsize: int) -> None:
        self.rate = rate
        self.queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(maxsize)
        self.dropped = False
        self.on_drop: Callable[[], None] | None = None  # e.g. close the connection under a stuck write
        self.sent = 0

    def offer(self, event: LiveEvent) -> bool:
        """Queue the event; False when the client has fallen too far behind (then drop it)."""
        if self.dropped:
            return True
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True

    def end(self) -> None:
        """No more events: the reader sees ``None`` next, even with a full queue."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class _Decimator:
    """Readings of one rate: per channel, the newest reading once per interval of data time."""

    def __init__(self, rate: float, channels: int) -> None:
        self.interval = 1.0 / rate
        self.last_sent = np.full(channels, -np.inf)

    def pick(self, batch: ReadingBatch) -> np.ndarray:
        newest = newest_per_channel(batch.channel, batch.ts)
        # 1 % slack: epoch seconds near 1.8e9 carry ~2e-7 s of float noise, and a sensor's own
        # period jitters; a reading due "just now" is not held back a whole interval.
        due = batch.ts[newest] - self.last_sent[batch.channel[newest]] >= self.interval * 0.99
        chosen = newest[due]
        self.last_sent[batch.channel[chosen]] = batch.ts[chosen]
        return chosen


class LiveFeed:
    name = "live-feed"

    def __init__(
        self,
        channel_ids: Sequence[str],
        rounding: Rounding,
        history: int = HISTORY_EVENTS,
        client_queue: int = CLIENT_QUEUE,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self._ids = list(channel_ids)
        self.rounding = rounding
        self.latest = LatestReadings(len(self._ids))
        self._history: deque[LiveEvent] = deque(maxlen=history)
        self._client_queue = client_queue
        self.max_clients = max_clients
        self._subs: set[Subscription] = set()
        self._decimators: dict[float, _Decimator] = {}
        # Ids carry the feed's start so an id from before a restart is told apart (and gets a reset).
        self.run_id = f"{int(time.time() * 1000):x}"
        self._seq = 0
        self.open = False
        self.dropped_clients = 0
        self.events_published = 0
        self._watch: Callable[[], dict[str, Any]] | None = None
        self._watched: dict[str, Any] = {}
        self._watch_view: Callable[[str], dict[str, Any]] | None = None
        self._watcher: asyncio.Task[None] | None = None

    # Sink

    async def __aenter__(self) -> LiveFeed:
        self.open = True
        if self._watch is not None:
            self._watched = self._watch()
            self._watcher = asyncio.create_task(self._watch_devices(), name="live-feed-devices")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.open = False
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        for sub in list(self._subs):
            sub.end()
        self._subs.clear()

    async def write(self, batch: SinkBatch) -> None:
        try:
            self.take(batch)
        except Exception:  # a fault here must cost the dashboard an update, never the pipeline
            log.exception("live feed: a batch could not be turned into events; skipped")

    def take(self, batch: SinkBatch) -> None:
        readings = batch.readings
        if len(readings):
            self.latest.update(readings)
            if self._subs:
                self._readings(readings)
        for event in batch.events:
            self.publish("alarm_event", event.to_dict())
        for cycle in batch.cycles:
            self.publish("cycle", cycle.to_dict())

    # Devices: watched once a second, an event when one's state or link changes

    def watch_devices(
        self, states: Callable[[], dict[str, Any]], view: Callable[[str], dict[str, Any]]
    ) -> None:
        self._watch = states
        self._watch_view = view
        if self.open and self._watcher is None:  # attached after the feed opened: watch from now
            self._watched = states()
            self._watcher = asyncio.create_task(self._watch_devices(), name="live-feed-devices")

    async def _watch_devices(self) -> None:
        while True:
            await asyncio.sleep(DEVICE_CHECK_S)
            try:
                self.check_devices()
            except Exception:
                log.exception("live feed: device states could not be read; trying again")

    def check_devices(self) -> None:
        if self._watch is None or self._watch_view is None:
            return
        now = self._watch()
        for device, state in now.items():
            if self._watched.get(device) != state:
                self.publish("device", {"id": device, **self._watch_view(device)})
        self._watched = now

    # Publishing

    def publish(self, kind: str, data: dict[str, Any]) -> LiveEvent:
        """An event every client gets and a reconnecting one can resume past."""
        self._seq += 1
        event = LiveEvent(f"{self.run_id}-{self._seq}", kind, frame(kind, data, f"{self.run_id}-{self._seq}"))
        self._history.append(event)
        self.events_published += 1
        self._fan_out(event, None)
        return event

    def _readings(self, batch: ReadingBatch) -> None:
        for rate, decimator in list(self._decimators.items()):
            chosen = decimator.pick(batch)
            if not len(chosen):
                continue
            data = {
                "readings": [
                    {
                        "channel": self._ids[col],
                        "ts": iso_utc(ts),
                        "value": self.rounding.column(col, value) if quality < Quality.BAD else None,
                        "quality": Quality.describe(quality),
                    }
                    for col, ts, value, quality in zip(
                        batch.channel[chosen].tolist(),
                        batch.ts[chosen].tolist(),
                        batch.value[chosen].tolist(),
                        batch.quality[chosen].tolist(),
                        strict=True,
                    )
                    if math.isfinite(ts)
                ]
            }
            self._fan_out(LiveEvent(None, "readings", frame("readings", data)), rate)

    def _fan_out(self, event: LiveEvent, rate: float | None) -> None:
        for sub in list(self._subs):
            if rate is not None and sub.rate != rate:
                continue
            if not sub.offer(event):
                self._drop(sub)

    def _drop(self, sub: Subscription) -> None:
        sub.dropped = True
        self.dropped_clients += 1
        self.unsubscribe(sub)
        log.warning(
            "live stream: a client fell %d events behind and was dropped (%d dropped so far)",
            self._client_queue,
            self.dropped_clients,
        )
        sub.end()
        if sub.on_drop is not None:
            sub.on_drop()

    # Clients

    def subscribe(self, rate: float = DEFAULT_RATE, last_event_id: str | None = None) -> Subscription:
        """A client's queue, with what it missed since ``last_event_id`` already in it (or ``reset``
        first when that is no longer known). Raises LookupError when the feed is closed or full."""
        if not self.open:
            raise LookupError("the live feed is not running")
        if len(self._subs) >= self.max_clients:
            raise LookupError(f"{self.max_clients} live clients already")
        rate = snap_rate(rate)
        sub = Subscription(rate, self._client_queue)
        if last_event_id is not None:
            missed = self.missed(last_event_id)
            if len(missed) >= self._client_queue:  # more than the queue holds: never a silent gap
                missed = [LiveEvent(None, "reset", frame("reset", {"reason": "too_old"}))]
            for event in missed:
                sub.offer(event)
        self._subs.add(sub)
        if rate not in self._decimators:
            self._decimators[rate] = _Decimator(rate, len(self._ids))
        return sub

    def missed(self, last_event_id: str) -> list[LiveEvent]:
        run, _, seq_text = last_event_id.strip().rpartition("-")
        seq = int(seq_text) if seq_text.isdigit() else -1
        oldest = int(self._history[0].id.rpartition("-")[2]) if self._history and self._history[0].id else 1
        if run != self.run_id or seq < 0 or seq > self._seq or seq < oldest - 1:
            reason = "restarted" if run != self.run_id else "too_old"
            return [LiveEvent(None, "reset", frame("reset", {"reason": reason}))]
        return [e for e in self._history if e.id is not None and int(e.id.rpartition("-")[2]) > seq]

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        rates = {s.rate for s in self._subs}
        for rate in list(self._decimators):
            if rate not in rates:
                del self._decimators[rate]

    @property
    def clients(self) -> int:
        return len(self._subs)
