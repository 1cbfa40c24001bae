"""The ``…/warnings`` outbox: messages the desk stored with each change, published in order.

A message leaves the store only once the broker acknowledged it, so a change made while the link is
down, or before a crash, is published later. Woken by each change; otherwise it looks every
``RETRY_EVERY_S`` (backing off to ``RETRY_CAP_S`` while the broker is away).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from drivers.cap.lifecycle import Applied
from drivers.outage import OutageLog
from drivers.warning_store import WarningStore
from gateway.vocab import RetryableSinkError

log = logging.getLogger(__name__)

RETRY_EVERY_S = 1.0
RETRY_CAP_S = 30.0
BATCH = 100


class Uplink(Protocol):
    async def send(self, payloads: list[bytes]) -> None: ...


class WarningPublisher:
    def __init__(self, store: WarningStore, uplink: Uplink) -> None:
        self._store = store
        self._uplink = uplink
        self._wake = asyncio.Event()
        self._outage = OutageLog(log, "weather warnings to the platform")
        self.published = 0
        self.failures = 0

    async def changed(self, applied: list[Applied]) -> None:
        """The desk's listener: a change was stored, with its message."""
        self._wake.set()

    async def run(self) -> None:
        delay = RETRY_EVERY_S
        while True:
            # Cleared before reading the store, so a change stored meanwhile still wakes us.
            self._wake.clear()
            rows = await self._store.outgoing(BATCH)
            if rows:
                try:
                    await self._uplink.send([body.encode() for _, body in rows])
                except RetryableSinkError as exc:
                    self.failures += 1
                    self._outage.failed(exc.reason)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_CAP_S)
                    continue
                await self._store.published([seq for seq, _ in rows])
                self.published += len(rows)
                self._outage.recovered()
                delay = RETRY_EVERY_S
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RETRY_CAP_S)
