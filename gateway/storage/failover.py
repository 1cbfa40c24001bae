"""Alarms never wait for the disk: what the gateway does while its local store cannot write.

The MQTT input acknowledges a message only once its readings are stored, and a broker delivers
only so many unacknowledged messages (mosquitto: 20). A store that fails therefore stops the
input, and with it every alarm. While the store fails this service:

- runs a *live path* from the first failed write on (``StoreWriter.retrying``): a second MQTT client
  with a clean session that acknowledges at once and hands its readings to the analytics only
  (``Pipeline.submit(live=True)``). The store's own session stays unacknowledged, so the broker keeps
  those messages for the store; once it writes again they are stored, and not judged twice. It
  starts at once, not when the store is called failing: the store's session stops delivering as
  soon as the broker's in-flight window is full (20 messages by default), and what arrives before
  the live path subscribes reaches the gateway only after the disk is back, behind the live path's
  readings, too late to be judged in order (counted: ``PipelineStats.unjudged_gap``);
- once the store has failed for ``StoreWriter.failing`` (2 s), raises a red gateway alarm (channel
  ``gateway.store``, rule ``store_failing``) pushed to every tier, cleared when the store has
  written again for ``RECOVERED_AFTER_S``;
- releases the alarm store's reserve (``gateway.storage.reserve``), so the alarm records and the push
  outbox have room on a full disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from drivers.source import Source
from gateway.alarms.book import NEVER_REOPEN, Reopening
from gateway.alarms.gateway_alarm import GatewayAlarm
from gateway.storage.reserve import Reserve
from gateway.vocab import AlarmEvent, AlarmState, ReadingBatch

log = logging.getLogger(__name__)

CHANNEL = "gateway.store"
RULE = "store_failing"
GRADE = 3  # nothing is stored and the platform gets nothing: someone must act (free the disk)
RECOVERED_AFTER_S = 10.0
CHECK_EVERY_S = 0.05  # a reading every 50 ms: the live path's start is the gap's length


class FailingStore(Protocol):
    @property
    def retrying(self) -> bool: ...

    @property
    def failing(self) -> bool: ...

    @property
    def last_error(self) -> str | None: ...


class StoreFailover:
    def __init__(
        self,
        site: str,
        store: FailingStore,
        live_sources: Callable[[], list[Source]],
        submit_live: Callable[[ReadingBatch], Awaitable[None]],
        emit: Callable[[list[AlarmEvent]], None],
        reserve: Reserve | None = None,
        clock: Callable[[], float] = time.time,
        reopening: Reopening = NEVER_REOPEN,
    ) -> None:
        self._store = store
        self._live_sources = live_sources
        self._submit_live = submit_live
        self._emit = emit
        self._reserve = reserve
        self._clock = clock
        self.alarm = GatewayAlarm(site, CHANNEL, RULE, GRADE, clock, reopening)
        self.active = False
        self.episodes = 0
        self.since: float | None = None  # wall clock, start of the current episode
        self._healthy_since: float | None = None  # monotonic
        self._tasks: list[asyncio.Task[None]] = []
        self.live = False  # the live path runs (from the first failed write until recovered)

    async def run(self) -> None:
        if self._reserve is not None:
            self._reserve.ensure()
        try:
            while True:
                await asyncio.sleep(CHECK_EVERY_S)
                self.check()
        finally:
            await self._stop_live()

    def check(self) -> None:
        retrying, failing = self._store.retrying, self._store.failing
        if retrying and not self.live:
            self._start_live()
        if failing and not self.active:
            self._begin()
        if self.live and not retrying:
            now = time.monotonic()
            if self._healthy_since is None:
                self._healthy_since = now
            elif now - self._healthy_since >= RECOVERED_AFTER_S:
                self._end()
        if retrying:
            self._healthy_since = None

    def health(self) -> dict[str, object]:
        return {
            "active": self.active,
            "live_path": self.live,
            "episodes": self.episodes,
            "error": self._store.last_error,
        }

    def _start_live(self) -> None:
        self.live = True
        sources = self._live_sources()
        log.warning(
            "local store write failed (%s): live MQTT path started (%d source(s)), so that alarms "
            "do not wait for the store's retries",
            self._store.last_error or "unknown error",
            len(sources),
        )
        for source in sources:
            self._tasks.append(asyncio.create_task(self._feed(source), name=f"live:{source.name}"))

    def _begin(self) -> None:
        self.active, self.episodes, self.since = True, self.episodes + 1, self._clock()
        error = self._store.last_error or "unknown error"
        freed = self._reserve.release() if self._reserve is not None else 0
        log.error(
            "local store failing (%s): alarms go on without it (live MQTT path); "
            "unstored messages stay at the broker%s",
            error,
            f"; released {freed / 1024**2:.0f} MB reserved for the alarm store" if freed else "",
        )
        self._emit(self.alarm.raised(_message(AlarmState.RAISED, error)))

    def _end(self) -> None:
        log.warning("local store writes again: live MQTT path stopped, the broker's messages are stored")
        for task in self._tasks:
            task.cancel()
        self._tasks, self._healthy_since, self.live = [], None, False
        if not self.active:  # a short failure: retried and written before it was called failing
            return
        self.active = False
        if self._reserve is not None:
            self._reserve.ensure()
        self._emit(self.alarm.cleared(_message(AlarmState.CLEARED, None)))

    async def _stop_live(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def _feed(self, source: Source) -> None:
        while True:
            try:
                async for batch in source.batches():
                    batch.ack()  # a clean session: acknowledged at once, never stored from here
                    await self._submit_live(batch.readings)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live MQTT path failed; starting it again in 1 s")
                await asyncio.sleep(1.0)


def _message(state: str, error: str | None) -> str:
    if state == AlarmState.CLEARED:
        return "gateway: the local store writes again; readings held at the broker are stored"
    return (
        f"gateway: the local store cannot write ({error}); alarms go on, but nothing is stored or "
        "sent to the platform until it can: free disk space on the gateway"
    )
