"""The one-way flow: readings → analytics → alarm events → every sink, each at its own pace.

Every batch goes first to the store writer (``gateway.forward``): the local store and the durable
forward queues, which hold the analytics back rather than drop anything. The other sinks (the
alarm desk) have their own bounded queue and worker, so a slow one never holds up the rest; a
retryable failure keeps the batch and retries with backoff; a full queue drops the oldest batch
with a counter and one log line per episode, but never one that carries an alarm event. Alarm
sinks (the desk) are given the events only: they have no use for the readings.

The pipeline also reads the sources itself (``feed``): each ``SourceBatch`` carries the
acknowledgement its source owes once the readings are stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from analytics import Engine
from analytics.crane_cycles import CycleDetector
from drivers import Backoff, OutageLog, Sink
from drivers.outage import until_accepted
from drivers.source import Source
from gateway.alarms.book import AlarmBook
from gateway.forward.sink_queue import SinkQueue
from gateway.vocab import (
    AlarmEvent,
    ReadingBatch,
    RetryableSinkError,
    SinkBatch,
    SinkRejectedError,
    SiteCycle,
)

log = logging.getLogger(__name__)
_quiet_log = logging.getLogger(f"{__name__}.quiet")
_quiet_log.setLevel(logging.ERROR)

INPUT_QUEUE_BATCHES = 1000
SINK_QUEUE_BATCHES = 10_000
COALESCE_BATCHES = 256
COALESCE_WAIT_S = 0.003
COALESCE_READINGS = 50_000


@dataclass(slots=True)
class SinkHealth:
    name: str
    written: int = 0
    retries: int = 0
    dropped_batches: int = 0
    rejected_batches: int = 0
    failing: bool = False
    last_error: str | None = None
    queue_depth: int = 0


@dataclass(slots=True)
class PipelineStats:
    readings: int = 0
    batches: int = 0
    events: int = 0
    cycles: int = 0
    analytics_failures: int = 0
    live_readings: int = 0  # judged on the live path while the store failed
    stored_unjudged: int = 0  # the same readings, stored later from the store's own session
    # Of those, readings the live path never saw: held by the broker from the store's stall until
    # the live path subscribed, delivered behind the live path's newer ones (too late to judge).
    unjudged_gap: int = 0
    # The latest pass: wall clock then minus its newest reading time (gateway.overload), and when.
    pass_lag_s: float | None = None
    last_pass_monotonic: float | None = None
    rejected: Counter[str] = field(default_factory=Counter)


Receipt = Callable[[], None]


@dataclass(frozen=True, slots=True)
class Submitted:
    batch: ReadingBatch
    receipt: Receipt | None
    owed: int  # messages the receipt acknowledges
    live: bool  # from the live path (judged only)


class DurableWriter(Protocol):
    """The store writer, as the pipeline sees it (``gateway.forward.StoreWriter``)."""

    health: SinkHealth

    def offer(self, batch: SinkBatch, receipts: Sequence[Receipt] = (), owed: int | None = None) -> None: ...

    async def wait_room(self) -> None: ...

    async def drain(self, within_s: float) -> bool: ...


class SinkWorker:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.queue = SinkQueue(SINK_QUEUE_BATCHES)
        self.health = SinkHealth(sink.name)
        # A sink that logs its own link's outages (the MQTT uplink) is not logged twice.
        quiet = getattr(sink, "reports_outages", False)
        self._outage = OutageLog(_quiet_log if quiet else log, f"sink {sink.name}")
        self._overflowing = False

    def offer(self, batch: SinkBatch) -> None:
        # When full, the oldest batch of readings alone goes, never one with an alarm event or a
        # cycle, and never the newest: live data matters most (gateway.forward.sink_queue).
        if self.queue.offer(batch):
            self.health.dropped_batches = self.queue.dropped
            if not self._overflowing:
                self._overflowing = True
                log.error(
                    "sink %s: queue full (%d batches); dropping the oldest readings-only batches "
                    "(alarm events are kept), counted in health",
                    self.sink.name,
                    SINK_QUEUE_BATCHES,
                )
        else:
            self._overflowing = False
        self.health.queue_depth = self.queue.qsize()

    async def run(self) -> None:
        backoff = Backoff(first=0.2, cap=5.0)
        while True:
            batch = await self.queue.get()
            try:
                await self._deliver(batch, backoff)
            finally:
                self.queue.task_done()
                self.health.queue_depth = self.queue.qsize()

    async def _deliver(self, batch: SinkBatch, backoff: Backoff) -> None:
        try:
            await until_accepted(lambda: self.sink.write(batch), backoff, self._outage, self._retrying)
        except SinkRejectedError as exc:
            self.health.rejected_batches += 1
            self.health.last_error = exc.reason
            log.error("sink %s refused a batch for good, dropped: %s", self.sink.name, exc.reason)
            return
        self.health.written += 1
        self.health.failing = False

    def _retrying(self, exc: RetryableSinkError) -> None:
        self.health.retries += 1
        self.health.failing = True
        self.health.last_error = exc.reason


class Pipeline:
    def __init__(
        self,
        engine: Engine,
        book: AlarmBook,
        sinks: list[Sink],
        on_events: Callable[[list[AlarmEvent]], None] | None = None,
        durable: DurableWriter | None = None,
        cycles: CycleDetector | None = None,
        site: str = "site",
        judged: Callable[[ReadingBatch], None] | None = None,
        store_derived: bool = True,
        alarm_sinks: Sequence[Sink] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``sinks`` get every batch; ``alarm_sinks`` (the desk) only batches of alarm events."""
        self.engine = engine
        self._judged = judged  # told of every batch just judged (baselines taken from it)
        self.book = book
        self._alarm_workers = [SinkWorker(s) for s in alarm_sinks]
        self._data_workers = [SinkWorker(s) for s in sinks]
        self.workers = self._alarm_workers + self._data_workers
        self.durable = durable
        self.cycles = cycles
        self._site = site
        # Computed channels (wind means, crane ratios) go to the sinks like the sensors' readings.
        self.store_derived = store_derived
        self.stats = PipelineStats()
        self._clock = clock
        self._input: asyncio.Queue[Submitted] = asyncio.Queue(INPUT_QUEUE_BATCHES)
        self._on_events = on_events
        # Per channel, the newest time judged on the live path (None until it first runs).
        self._live_until: npt.NDArray[np.float64] | None = None
        # Per channel, the oldest time judged on the live path, and the newest judged before it.
        self._live_from: npt.NDArray[np.float64] | None = None
        self._judged_before_live: npt.NDArray[np.float64] | None = None
        # When the clock tick last went round (monotonic): the systemd watchdog's proof of life.
        self.last_tick_monotonic: float | None = None

    async def feed(self, source: Source, live: bool = False) -> None:
        """Take a source's batches until cancelled (a source reconnects by itself, never ends)."""
        async for batch in source.batches():
            await self.submit(batch.readings, batch.ack, live, batch.owed)

    async def submit(
        self, batch: ReadingBatch, receipt: Receipt | None = None, live: bool = False, owed: int = 1
    ) -> None:
        """Hand a source's batch to the analytics; waits when the analytics fall behind.

        ``receipt`` is called once the batch is durably stored (or at once without a store).
        ``live``: from the live path that runs while the store fails (``gateway.storage.failover``):
        judged only; the broker still holds these messages for the store's own session, whose
        copies are then stored without being judged twice. ``owed``: how many broker messages
        the receipt acknowledges (the store writer writes before the broker's window is full).
        """
        await self._input.put(Submitted(batch, receipt, owed if receipt is not None else 0, live))

    async def run(self) -> None:
        while True:
            if self.durable is not None:
                await self.durable.wait_room()
            first = await self._input.get()
            batches = [first]
            readings = len(first.batch)
            # Gather what arrives within a few milliseconds, or until enough readings wait: one
            # vectorised pass instead of one per message (a pass costs about a millisecond whatever
            # its size), while a quiet site's reading is still judged within milliseconds.
            deadline = time.monotonic() + COALESCE_WAIT_S
            while len(batches) < COALESCE_BATCHES and readings < COALESCE_READINGS:
                if not self._input.empty():
                    batches.append(self._input.get_nowait())
                    readings += len(batches[-1].batch)
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batches.append(await asyncio.wait_for(self._input.get(), remaining))
                    readings += len(batches[-1].batch)
                except TimeoutError:
                    break
            try:
                receipts = [b.receipt for b in batches if b.receipt is not None]
                owed = sum(b.owed for b in batches)
                batch = ReadingBatch.concat([b.batch for b in batches if not b.live])
                live_batch = ReadingBatch.concat([b.batch for b in batches if b.live])
                try:
                    if len(batch) or receipts:
                        self.process(batch, receipts, owed)
                    if len(live_batch):
                        self.process_live(live_batch)
                except Exception:
                    self._analytics_failed(batch, receipts, owed)
            finally:
                for _ in batches:
                    self._input.task_done()

    async def tick_every(self, period_s: float, clock: Callable[[], float]) -> None:
        """Tell the core the time now and then, so a sensor that falls silent is noticed."""
        while True:
            await asyncio.sleep(period_s)
            self.tick(clock())

    def tick(self, now: float) -> list[AlarmEvent]:
        self.last_tick_monotonic = time.monotonic()
        events = self.book.apply(self.engine.tick(now))
        if events:
            self._emit(ReadingBatch.empty(), events)
        return events

    def emit_events(self, events: list[AlarmEvent]) -> None:
        """Alarm events made outside the core (a device's clock notice), to every sink."""
        if events:
            self._emit(ReadingBatch.empty(), events)

    def process_live(self, batch: ReadingBatch) -> list[AlarmEvent]:
        """Judge readings of the live path: their alarms go out, the readings are not stored here."""
        if self._live_from is None:
            self._live_from = np.full(len(self.engine.state), np.inf)
            self._judged_before_live = self.engine.state.last_ts.copy()
        np.minimum.at(self._live_from, batch.channel, batch.ts)
        result = self.engine.process(batch.ts, batch.channel, batch.value, batch.quality)
        events = self.book.apply(result.transitions)
        self.stats.readings += len(batch)
        self.stats.live_readings += len(batch)
        self.stats.batches += 1
        self.stats.rejected.update(result.rejected)
        if self._live_until is None:
            self._live_until = np.full(len(self.engine.state), -np.inf)
        np.maximum.at(self._live_until, batch.channel, batch.ts)
        if self._judged is not None:
            self._judged(ReadingBatch(batch.ts, batch.channel, batch.value, result.quality))
        cycles: tuple[SiteCycle, ...] = ()
        if self.cycles is not None:
            found = self.cycles.process(batch.ts, batch.channel, batch.value, result.quality)
            cycles = tuple(SiteCycle(self._site, c) for c in found)
            self.stats.cycles += len(cycles)
        if events or cycles:
            self._emit(ReadingBatch.empty(), events, cycles=cycles)
        return events

    def _count_gap(self, stored_only: ReadingBatch) -> None:
        if self._live_from is None or self._judged_before_live is None:
            return
        ch, ts = stored_only.channel, stored_only.ts
        gap = int(np.count_nonzero((ts > self._judged_before_live[ch]) & (ts < self._live_from[ch])))
        if gap and not self.stats.unjudged_gap:
            log.warning(
                "%d reading(s) held at the broker between the store's first failed write and the live "
                "path's start were stored without being judged (behind newer ones); further ones are "
                "only counted (unjudged_gap)",
                gap,
            )
        self.stats.unjudged_gap += gap

    def process(
        self, batch: ReadingBatch, receipts: Sequence[Receipt] = (), owed: int | None = None
    ) -> list[AlarmEvent]:
        stored_only = ReadingBatch.empty()
        if self._live_until is not None and len(batch):
            # Judged already on the live path while the store failed: stored now, not judged twice.
            seen = batch.ts <= self._live_until[batch.channel]
            if seen.any():
                stored_only = _select(batch, seen)
                batch = _select(batch, ~seen)
                self.stats.stored_unjudged += len(stored_only)
                self._count_gap(stored_only)
        result = self.engine.process(batch.ts, batch.channel, batch.value, batch.quality)
        events = self.book.apply(result.transitions)
        self.stats.readings += len(batch)
        self.stats.batches += 1
        self.stats.rejected.update(result.rejected)
        self._note_lag(batch)
        cycles: tuple[SiteCycle, ...] = ()
        if self.cycles is not None:
            found = self.cycles.process(batch.ts, batch.channel, batch.value, result.quality)
            cycles = tuple(SiteCycle(self._site, c) for c in found)
            self.stats.cycles += len(cycles)
        out = ReadingBatch(batch.ts, batch.channel, batch.value, result.quality)
        if self._judged is not None:
            self._judged(out)
        if len(stored_only):
            out = ReadingBatch.concat([out, stored_only])
        derived = result.derived
        if self.store_derived and len(derived):
            computed = ReadingBatch(derived.ts, derived.channel, derived.value, derived.quality)
            out = ReadingBatch.concat([out, computed])
        self._emit(out, events, receipts, cycles, owed)
        return events

    def _note_lag(self, batch: ReadingBatch) -> None:
        if len(batch):
            self.stats.pass_lag_s = self._clock() - float(batch.ts.max())
            self.stats.last_pass_monotonic = time.monotonic()

    def waiting_batches(self) -> int:
        return self._input.qsize()

    def _analytics_failed(self, batch: ReadingBatch, receipts: Sequence[Receipt], owed: int) -> None:
        """A fault in the analytics must not cost the readings: store them as they came."""
        self.stats.analytics_failures += 1
        if self.stats.analytics_failures == 1:
            log.exception(
                "analytics failed on %d readings; they are stored unjudged (further failures are "
                "only counted in health)",
                len(batch),
            )
        self._emit(batch, [], receipts, owed=owed)

    def _emit(
        self,
        readings: ReadingBatch,
        events: list[AlarmEvent],
        receipts: Sequence[Receipt] = (),
        cycles: tuple[SiteCycle, ...] = (),
        owed: int | None = None,
    ) -> None:
        self.stats.events += len(events)
        out = SinkBatch(readings, tuple(events), cycles)
        if self.durable is not None:
            self.durable.offer(out, receipts, owed)
        else:
            for receipt in receipts:
                receipt()
        for worker in self._data_workers:
            worker.offer(out)
        if events:
            alarms_only = SinkBatch(ReadingBatch.empty(), out.events)
            for worker in self._alarm_workers:
                worker.offer(alarms_only)
        if events and self._on_events is not None:
            self._on_events(events)

    def waiting(self) -> str:
        """What is not yet stored, in words (for the log when a stop cannot wait for it)."""
        stored_later = self.durable.health.queue_depth if self.durable is not None else 0
        return f"{self._input.qsize()} batch(es) not analysed, {stored_later} reading(s) not stored"

    async def drain(self, within_s: float) -> bool:
        """Wait until every reading is analysed and every sink has written; False on timeout."""
        deadline = time.monotonic() + within_s
        try:
            await asyncio.wait_for(self._input.join(), max(0.0, deadline - time.monotonic()))
            if self.durable is not None and not await self.durable.drain(
                max(0.0, deadline - time.monotonic())
            ):
                return False
            for worker in self.workers:
                await asyncio.wait_for(worker.queue.join(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            return False
        return True


def _select(batch: ReadingBatch, mask: npt.NDArray[np.bool_]) -> ReadingBatch:
    return ReadingBatch(batch.ts[mask], batch.channel[mask], batch.value[mask], batch.quality[mask])
