"""The store writer: the point where a reading becomes durable.

Batches from the analytics are gathered for a few milliseconds and written in one transaction
that also queues them for every destination; then the live chunks go to the forwarders and the
sources are told (an MQTT source acknowledges the broker only now, so a message the gateway took
is never lost to a crash). When the disk falls behind, ``wait_room`` holds the analytics back,
and through them the sources: data waits upstream (the broker, the bus) instead of being dropped.

When the store fails (a full disk, an I/O error) for longer than ``FAILING_AFTER_S``, alarms must
not wait for it: ``wait_room`` no longer holds the analytics back, and past the high-water mark the
oldest batches that nobody will send again (no receipt: Modbus, the live MQTT path) lose their
readings from memory, counted as ``not_stored``; their alarm events and cycles are kept. Batches
with a receipt are always kept: their messages stay unacknowledged at the broker until stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from drivers import Backoff, OutageLog, SqliteStore
from drivers.outage import until_accepted
from gateway.forward.forwarder import Forwarder
from gateway.pipeline import SinkHealth
from gateway.vocab import ForwardChunk, ReadingBatch, RetryableSinkError, SinkBatch

log = logging.getLogger(__name__)

# How long readings may wait in memory before they are written. Each commit rewrites the newest
# index page of every channel written, so fewer, larger commits cost less CPU and far less flash
# wear (measured at 10,000 readings/s: 0.02 s -> 0.1 s took storing from ~15 % to ~9 % of a core
# and WAL writes from ~30 to ~13 MB/s). Alarm events are written at once.
FLUSH_S = 0.1
FLUSH_READINGS = 20_000  # write at once when this many are waiting
# At most this many readings (whole batches, at least one) per transaction: when the store falls
# behind, one write of everything waiting (up to HIGH_WATER_READINGS) held the store's thread for
# seconds, and with it the forwarders' acknowledgements and every alarm event behind it (a 3x
# overload run: the uplink fell to a fifth of its normal rate, alarms waited 2.7 s).
WRITE_READINGS = 20_000
# A broker lets only so many QoS 1 messages wait for our PUBACK (mosquitto's max_inflight_messages:
# 20 by default; ``mqtt.inflight_window`` says what the site's broker allows), and we acknowledge
# only once stored: write when half the window waits, so the broker sends the other half meanwhile.
DEFAULT_INFLIGHT_WINDOW = 20
HIGH_WATER_READINGS = 200_000  # hold the analytics back above this (while the store works)
# A store failing this long is failing, not slow: the analytics stop waiting for it.
FAILING_AFTER_S = 2.0

Receipt = Callable[[], None]


class StoreWriter:
    def __init__(
        self,
        store: SqliteStore,
        forwarders: Sequence[Forwarder],
        inflight_window: int = DEFAULT_INFLIGHT_WINDOW,
    ) -> None:
        self.store = store
        self._flush_owed = max(1, inflight_window // 2)
        self._owed = 0  # broker messages waiting for their acknowledgement in _receipts
        self.forwarders = {f.name: f for f in forwarders}
        self.health = SinkHealth(store.name)
        self._batches: list[SinkBatch] = []
        self._events_offered_at: float | None = None  # monotonic, the first waiting batch with events
        self._receipts: list[Sequence[Receipt]] = []  # per batch in _batches
        self._owed_each: list[int] = []  # per batch in _batches
        self._has_receipts: list[bool] = []  # per batch in _batches: someone will send it again?
        self._waiting_readings = 0
        self._has_data = asyncio.Event()
        self._full = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._outage = OutageLog(log, "local store")
        self.rejected_readings = 0
        self.not_stored_readings = 0  # dropped from memory while the store failed (see module doc)
        self._failing_since: float | None = None  # monotonic, first failure of the current outage
        self._shedding = False

    @property
    def failing(self) -> bool:
        """The store has failed for longer than ``FAILING_AFTER_S``: alarms go on without it."""
        since = self._failing_since
        return since is not None and time.monotonic() - since >= FAILING_AFTER_S

    @property
    def retrying(self) -> bool:
        """The store's latest write failed and is being retried (failing or not yet)."""
        return self._failing_since is not None

    @property
    def last_error(self) -> str | None:
        return self.health.last_error

    def offer(self, batch: SinkBatch, receipts: Sequence[Receipt] = (), owed: int | None = None) -> None:
        """``owed``: broker messages the receipts acknowledge (default: one each)."""
        self._batches.append(batch)
        self._receipts.append(receipts)
        self._owed_each.append(len(receipts) if owed is None else owed)
        self._owed += self._owed_each[-1]
        self._has_receipts.append(bool(receipts))
        self._waiting_readings += len(batch.readings)
        if batch.events and self._events_offered_at is None:
            self._events_offered_at = time.monotonic()
        if self._waiting_readings >= FLUSH_READINGS or batch.events or self._owed >= self._flush_owed:
            self._full.set()
        if self._waiting_readings >= HIGH_WATER_READINGS:
            if self.failing:
                self._shed()
            else:
                self._room.clear()
        self.health.queue_depth = self._waiting_readings
        self._idle.clear()
        self._has_data.set()

    def _shed(self) -> None:
        """Drop the readings of the oldest batches no source will send again, down to half the mark."""
        dropped = 0
        for i, batch in enumerate(self._batches):
            if self._waiting_readings - dropped <= HIGH_WATER_READINGS // 2:
                break
            if self._has_receipts[i] or not len(batch.readings):
                continue
            dropped += len(batch.readings)
            self._batches[i] = replace(batch, readings=ReadingBatch.empty())
        kept = [i for i, b in enumerate(self._batches) if len(b.readings) or b.events or b.cycles]
        self._batches = [self._batches[i] for i in kept]
        self._has_receipts = [self._has_receipts[i] for i in kept]
        self._receipts = [self._receipts[i] for i in kept]
        self._owed_each = [self._owed_each[i] for i in kept]
        self._waiting_readings -= dropped
        self.not_stored_readings += dropped
        if dropped and not self._shedding:
            self._shedding = True
            log.error(
                "local store failing (%s): readings no source sends again are dropped from memory "
                "past %d waiting (alarm events kept; counted as not_stored)",
                self.health.last_error,
                HIGH_WATER_READINGS,
            )

    async def wait_room(self) -> None:
        while not self._room.is_set() and not self.failing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), FAILING_AFTER_S / 4)

    async def run(self) -> None:
        backoff = Backoff(first=0.2, cap=5.0)
        while True:
            await self._has_data.wait()
            if not self._full.is_set():
                # Gather a few milliseconds' worth, unless enough is waiting already.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), FLUSH_S)
            self._full.clear()
            batches, receipts, events_at = self._take_some()
            await self._write(batches, receipts, backoff, events_at)
            self.health.queue_depth = self._waiting_readings
            if not self._batches:
                self._idle.set()

    def _take_some(self) -> tuple[list[SinkBatch], list[Receipt], float | None]:
        """The oldest waiting batches, up to WRITE_READINGS readings (at least one batch)."""
        count, readings = 0, 0
        while count < len(self._batches):
            size = len(self._batches[count].readings)
            if count and readings + size > WRITE_READINGS:
                break
            count, readings = count + 1, readings + size
        batches = self._batches[:count]
        receipts = [r for each in self._receipts[:count] for r in each]
        events_at = self._events_offered_at
        # Alarm events never wait behind readings: those of later batches go in this write too
        # (their readings keep their place, and their receipts wait for them).
        later_events = tuple(e for b in self._batches[count:] for e in b.events)
        if later_events:
            batches.append(SinkBatch(ReadingBatch.empty(), later_events))
            for i in range(count, len(self._batches)):
                if self._batches[i].events:
                    self._batches[i] = replace(self._batches[i], events=())
        del self._batches[:count], self._receipts[:count], self._has_receipts[:count]
        self._owed -= sum(self._owed_each[:count])
        del self._owed_each[:count]
        self._waiting_readings -= readings
        # What stays behind keeps the older stamp: its alarm wait is counted from no later.
        self._events_offered_at = events_at if any(b.events for b in self._batches) else None
        if self._batches:
            self._full.set()  # the rest is due already: written next, without gathering again
        else:
            self._has_data.clear()
        if self._waiting_readings < HIGH_WATER_READINGS:
            self._room.set()
        return batches, receipts, events_at

    async def _write(
        self, batches: list[SinkBatch], receipts: list[Receipt], backoff: Backoff, events_at: float | None
    ) -> None:
        chunks = await self._store(batches, backoff)
        for name, made in chunks.items():
            forwarder = self.forwarders.get(name)
            if forwarder is not None:
                for chunk in made:
                    forwarder.offer(chunk, stored_at=events_at)
        for receipt in receipts:
            try:
                receipt()
            except Exception:  # a receipt is an acknowledgement: its failure loses nothing here
                log.exception("acknowledging stored readings to their source failed")

    async def _store(self, batches: list[SinkBatch], backoff: Backoff) -> dict[str, list[ForwardChunk]]:
        """Store the batches, retrying while the store cannot write; a batch the store refuses
        for good (a malformed record: a bug somewhere) is found alone, dropped, counted, logged."""
        try:
            chunks = await until_accepted(
                lambda: self.store.append(batches), backoff, self._outage, self._retrying
            )
        except Exception as exc:
            if len(batches) > 1:
                return await self._store_one_by_one(batches, backoff)
            readings = len(batches[0].readings)
            self.health.rejected_batches += 1
            self.rejected_readings += readings
            self.health.last_error = f"{type(exc).__name__}: {exc}"
            log.exception(
                "local store refused a batch for good (%d readings, %d alarm events, %d cycles "
                "dropped and counted)",
                readings,
                len(batches[0].events),
                len(batches[0].cycles),
            )
            return {}
        self._failing_since, self._shedding = None, False
        self.health.failing = False
        self.health.written += 1
        return chunks

    def _retrying(self, exc: RetryableSinkError) -> None:
        self.health.retries += 1
        self.health.failing = True
        self.health.last_error = exc.reason
        if self._failing_since is None:
            self._failing_since = time.monotonic()

    async def _store_one_by_one(
        self, batches: list[SinkBatch], backoff: Backoff
    ) -> dict[str, list[ForwardChunk]]:
        merged: dict[str, list[ForwardChunk]] = {}
        for batch in batches:
            for name, made in (await self._store([batch], backoff)).items():
                merged.setdefault(name, []).extend(made)
        return merged

    async def drain(self, within_s: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), within_s)
        except TimeoutError:
            return False
        return True
