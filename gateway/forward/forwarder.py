"""One destination's forwarder: live chunks first, then the durable backlog at a bounded rate.

A chunk leaves the queue (``store.acknowledge``) only after the destination acknowledged it. What
waits in memory is only a shortcut: every chunk is in the store's queue first, so a chunk the
memory cannot hold, or one in flight when the gateway dies, is sent from the backlog later.

Order: alarm events, then crane cycles (live, then backlog), then readings: live first, with every
fifth message for the backlog while both wait. Consecutive chunks of a kind go out merged (up to
2,000 readings a message).

Alarm events and cycles go one message at a time, so they arrive in the order they happened.
Readings may have several messages in flight (``in_flight``, from the destination: the MQTT uplink
allows a few, InfluxDB one): a busy gateway answers each PUBACK late, and with one message at a
time the uplink's rate would be one message per loop turn, starving the platform exactly when the
gateway is behind. Order is kept: each send retries only after the one sent before it is through,
and no new one starts while one retries, so each stream (live, backlog) arrives in time order per
channel.
How long the latest alarm event waited from being stored to being acknowledged is kept in the
stats (``alarm_wait_s``): the supervisor's platform should learn of an alarm within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from drivers import Backoff, OutageLog
from drivers.destination import Destination
from drivers.outage import until_accepted
from drivers.sqlite_store import Pending
from gateway.forward.merge import take_merged
from gateway.forward.stats import ForwardStats
from gateway.forward.token_bucket import TokenBucket
from gateway.vocab import (
    ForwardChunk,
    RecordKind,
    RetryableSinkError,
    SinkRejectedError,
)

log = logging.getLogger(__name__)

LIVE_CHUNKS = 256  # in memory per destination; older live chunks fall back to the backlog
# Segments loaded per store query, up to the store's record budget (a few messages' worth): small
# segments (a quiet site) still fill whole messages, big ones do not delay the first send.
BACKLOG_LOAD = 256
LIVE_STREAK = 4  # live messages in a row before the readings backlog gets one
PENDING_REFRESH_S = 1.0


class QueueStore(Protocol):
    async def backlog(self, destination: str, kind: str, after: int, limit: int) -> list[ForwardChunk]: ...

    async def acknowledge(self, destination: str, segments: list[int]) -> None: ...

    async def pending(self, destination: str) -> Pending: ...


class Forwarder:
    def __init__(
        self,
        destination: Destination,
        store: QueueStore,
        stats: ForwardStats,
        backlog_rate: float | None,
        clock: Callable[[], float] = time.time,
        in_flight: int = 1,
    ) -> None:
        self.destination = destination
        self.name = destination.name
        self._store = store
        self.stats = stats
        self._clock = clock
        self._live: dict[str, deque[ForwardChunk]] = {k: deque() for k in RecordKind.ALL}
        self._claimed: set[int] = set()  # segments in memory or in flight: the backlog skips them
        self._cursor: dict[str, int] = dict.fromkeys(RecordKind.ALL, 0)
        self._backlog_done: dict[str, bool] = dict.fromkeys(RecordKind.ALL, False)
        self._loaded: dict[str, deque[ForwardChunk]] = {k: deque() for k in RecordKind.ALL}
        self._live_streak = 0
        self._rewound: dict[str, bool] = dict.fromkeys(RecordKind.ALL, False)
        self._wake = asyncio.Event()
        self._bucket = TokenBucket(backlog_rate) if backlog_rate else None
        self._outage = OutageLog(log, f"destination {self.name}")
        self._last_refresh = 0.0
        self._in_flight = max(1, in_flight)
        self._failing = 0  # readings sends in flight that are retrying
        self._stored_at: dict[int, float] = {}  # live alarm-event segment -> monotonic time stored
        # Delivered segments whose acknowledgement to the store waits (see _send), and the task
        # writing them.
        self._delivered: list[int] = []
        self._acknowledging: asyncio.Task[None] | None = None

    # Feeding

    def offer(self, chunk: ForwardChunk, stored_at: float | None = None) -> None:
        """A chunk just stored and queued; sent ahead of the backlog while memory holds it.
        ``stored_at``: when its records were handed to the store (monotonic), for ``alarm_wait_s``."""
        if chunk.kind == RecordKind.EVENTS:
            self._stored_at[chunk.segment] = time.monotonic() if stored_at is None else stored_at
        if sum(len(q) for q in self._live.values()) >= LIVE_CHUNKS:
            # Readings give way first; the chunk stays in the store's queue and comes back from there.
            victim_kind = next((k for k in reversed(RecordKind.ALL) if self._live[k]), chunk.kind)
            self._release(self._live[victim_kind].popleft())
        self._live[chunk.kind].append(chunk)
        self._claimed.add(chunk.segment)
        self._wake.set()

    # Sending

    async def run(self) -> None:
        backoff = Backoff(first=0.2, cap=30.0)
        await self._refresh_pending(force=True)
        sending: set[asyncio.Task[None]] = set()
        latest: asyncio.Task[None] | None = None  # the readings send started last
        try:
            while True:
                chunk = await self._next_chunk()
                if chunk.kind != RecordKind.READINGS or self._in_flight == 1:
                    await self._send(chunk, backoff)
                else:
                    # Room for one more, and none failing: a send started while an older one
                    # retries would overtake it.
                    sending = await _reaped(sending, lambda n: n >= self._in_flight or self._failing > 0)
                    after = latest if latest in sending else None
                    latest = asyncio.create_task(self._send(chunk, Backoff(first=0.2, cap=30.0), after))
                    sending.add(latest)
                sending = await _reaped(sending, lambda n: False)
        finally:
            for task in sending:
                task.cancel()
            await asyncio.gather(*sending, return_exceptions=True)
            # What was delivered is told to the store before we go (else it is sent again later).
            if self._acknowledging is not None:
                await asyncio.gather(self._acknowledging, return_exceptions=True)
            if self._delivered:
                with contextlib.suppress(Exception):
                    await self._acknowledge_delivered()

    async def _send(
        self, chunk: ForwardChunk, backoff: Backoff, after: asyncio.Task[None] | None = None
    ) -> None:
        """``after``: the send started before this one; a retry waits until it is through, so
        that what the far side takes keeps the order it was sent in."""
        try:
            await self._deliver(chunk, backoff, after)
        except BaseException:
            # Cancelled, or a fault the supervisor restarts us for: the chunk goes back to
            # the backlog (it is still in the store's queue) instead of being forgotten.
            self._release(chunk)
            raise
        if chunk.kind == RecordKind.EVENTS:
            self._note_alarm_wait(chunk)
        # The store is told in the background, many segments at a time: waiting for it here held
        # the send's slot behind the store's writes (under a 3x overload the uplink sent two
        # messages a second). The segments stay claimed until the store has them, so the backlog
        # does not load them again meanwhile; a crash before that sends them again (at least once).
        self._delivered.extend(chunk.segments)
        previous = self._acknowledging
        if previous is None or previous.done():
            if previous is not None and not previous.cancelled() and previous.exception() is not None:
                raise previous.exception()  # type: ignore[misc]  # the store failed: as before, a fault
            self._acknowledging = asyncio.create_task(self._acknowledge_delivered())
        await self._refresh_pending()

    async def _acknowledge_delivered(self) -> None:
        while self._delivered:
            segments, self._delivered = self._delivered, []
            try:
                await self._store.acknowledge(self.name, segments)
            except BaseException:
                self._delivered[:0] = segments  # tried again by the next send, or at the end
                raise
            self._claimed.difference_update(segments)

    def _note_alarm_wait(self, chunk: ForwardChunk) -> None:
        stored = [self._stored_at.pop(s) for s in chunk.segments if s in self._stored_at]
        if stored:
            self.stats.alarm_wait_s = time.monotonic() - min(stored)
            self.stats.alarm_wait_max_s = max(self.stats.alarm_wait_max_s or 0.0, self.stats.alarm_wait_s)

    def _release(self, chunk: ForwardChunk) -> None:
        self._claimed.difference_update(chunk.segments)
        self._cursor[chunk.kind] = min(self._cursor[chunk.kind], min(chunk.segments) - 1)
        self._backlog_done[chunk.kind] = False
        self._rewound[chunk.kind] = True

    async def _next_chunk(self) -> ForwardChunk:
        """Alarm events, then cycles (live, then backlog), then readings: live first, but the
        readings backlog gets every LIVE_STREAK-th message so it drains even while live data
        keeps coming (a link that only just keeps up would otherwise never catch up)."""
        while True:
            for kind in (RecordKind.EVENTS, RecordKind.CYCLES):
                if self._live[kind]:
                    return take_merged(self._live[kind])
                if await self._has_backlog(kind):
                    return await self._take_backlog(kind)
            readings = RecordKind.READINGS
            backlog = await self._has_backlog(readings)
            if self._live[readings] and not (backlog and self._live_streak >= LIVE_STREAK):
                self._live_streak += 1
                return take_merged(self._live[readings])
            if backlog:
                self._live_streak = 0
                return await self._take_backlog(readings)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), PENDING_REFRESH_S)
            except TimeoutError:
                await self._refresh_pending()

    async def _take_backlog(self, kind: str) -> ForwardChunk:
        chunk = take_merged(self._loaded[kind])
        if self._bucket is not None:
            try:
                await self._bucket.take(len(chunk))
            except BaseException:
                self._release(chunk)
                raise
        return chunk

    async def _has_backlog(self, kind: str) -> bool:
        """True when backlog chunks of ``kind`` are loaded, loading more from the store if needed."""
        loaded = self._loaded[kind]
        while not loaded and not self._backlog_done[kind]:
            self._rewound[kind] = False
            chunks = await self._store.backlog(self.name, kind, self._cursor[kind], BACKLOG_LOAD)
            if self._rewound[kind]:
                # A chunk was released while the store answered: the cursor now points before it
                # and must not move past it on the strength of this (older) answer.
                self._take_unclaimed(chunks, loaded)
                continue
            if not chunks:
                self._backlog_done[kind] = True
                break
            self._cursor[kind] = chunks[-1].segment
            self._take_unclaimed(chunks, loaded)
        return bool(loaded)

    def _take_unclaimed(self, chunks: list[ForwardChunk], loaded: deque[ForwardChunk]) -> None:
        for c in chunks:
            if c.segment not in self._claimed:
                self._claimed.add(c.segment)
                loaded.append(c)

    async def _deliver(
        self, chunk: ForwardChunk, backoff: Backoff, after: asyncio.Task[None] | None = None
    ) -> None:
        """Send until the destination acknowledges (or refuses for good)."""
        failing = False

        async def failed(exc: RetryableSinkError) -> None:
            nonlocal failing
            if not failing:
                failing, self._failing = True, self._failing + 1
            self._failed(chunk, exc.reason)
            if after is not None and not after.done():
                await asyncio.wait([after])
            await self._refresh_pending()

        try:
            delivery = await until_accepted(
                lambda: self.destination.send(chunk), backoff, self._outage, failed
            )
        except SinkRejectedError as exc:
            self._rejected(len(chunk), exc.reason)
            return
        finally:
            if failing:
                self._failing -= 1
        self.stats.connected = True
        if delivery.rejected:
            self._rejected(delivery.rejected, delivery.reason or "refused")
        self.stats.sent += len(chunk) - delivery.rejected
        self.stats.sent_messages += 1

    def _failed(self, chunk: ForwardChunk, reason: str) -> None:
        self.stats.failed += len(chunk)
        self.stats.connected = False
        self.stats.last_error = reason

    def _rejected(self, count: int, reason: str) -> None:
        self.stats.dropped[f"rejected: {reason}"[:200]] += count
        self.stats.last_error = reason
        log.error("destination %s refused %d record(s) for good, dropped: %s", self.name, count, reason)

    async def _refresh_pending(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_refresh < PENDING_REFRESH_S:
            return
        self._last_refresh = now
        pending = await self._store.pending(self.name)
        self.stats.queue_depth = pending.records
        oldest = pending.oldest_created
        self.stats.oldest_unsent_age_s = None if oldest is None else max(0.0, self._clock() - oldest)


async def _reaped(
    sending: set[asyncio.Task[None]], wait_while: Callable[[int], bool]
) -> set[asyncio.Task[None]]:
    """The sends still running, once ``wait_while(how many run)`` no longer holds; a send that
    failed with anything but a retry (a fault the supervisor restarts us for) is raised here."""
    while True:
        done = {t for t in sending if t.done()}
        sending = sending - done
        faults = [t.exception() for t in done if not t.cancelled() and t.exception() is not None]
        if faults:
            raise faults[0]  # type: ignore[misc]
        if not sending or not wait_while(len(sending)):
            return sending
        await asyncio.wait(sending, return_when=asyncio.FIRST_COMPLETED)
