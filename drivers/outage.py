"""Log a failure once and its recovery once, however many times the poll or connect is retried;
the backoff between tries, and the one retry loop built of both (``until_accepted``)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gateway.vocab import DestinationBusyError, RetryableSinkError

# Distinct causes logged per outage: enough to follow a cause that changes, not a flood.
MAX_REASONS_LOGGED = 5


class OutageLog:
    """Tracks one link's outage so logs show one line when it breaks and one when it is back."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self._logger = logger
        self._what = what
        self._down_since: float | None = None
        self._reasons: set[str] = set()  # the reasons this outage has logged
        self.failures = 0
        self.outages = 0
        self.last_reason: str | None = None

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def failed(self, reason: str) -> None:
        """Log the first failure of an outage, and again whenever its cause changes (a refused
        connection that becomes a certificate failure is a different fix), once per cause."""
        self.failures += 1
        self.last_reason = reason
        if self._down_since is None:
            self._down_since = time.monotonic()
            self.outages += 1
            self._reasons = {reason}
            self._logger.warning("%s failed: %s (retrying; logged once per outage)", self._what, reason)
        elif reason not in self._reasons and len(self._reasons) < MAX_REASONS_LOGGED:
            self._reasons.add(reason)
            self._logger.warning("%s still failing, now: %s", self._what, reason)

    def recovered(self) -> None:
        if self._down_since is not None:
            lasted = time.monotonic() - self._down_since
            self._down_since = None
            self._logger.warning("%s recovered after %.1f s", self._what, lasted)


class Backoff:
    """Capped exponential backoff with full jitter, so many clients do not retry in step."""

    def __init__(
        self,
        first: float = 0.2,
        cap: float = 5.0,
        factor: float = 2.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.first = first
        self.cap = cap
        self.factor = factor
        self._rand = rand
        self._attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.first * self.factor**self._attempt)
        self._attempt += 1
        # Never below half the ceiling: a retry storm on a dead link helps nobody.
        return ceiling * (0.5 + 0.5 * self._rand())

    def reset(self) -> None:
        self._attempt = 0


T = TypeVar("T")
# The longest wait a far side's Retry-After is obeyed for: beyond it, our own backoff decides.
MAX_RETRY_AFTER_S = 300.0


async def until_accepted(
    attempt: Callable[[], Awaitable[T]],
    backoff: Backoff,
    outage: OutageLog,
    on_retry: Callable[[RetryableSinkError], Awaitable[None] | None] | None = None,
) -> T:
    """Call ``attempt`` until it no longer raises RetryableSinkError, and return what it returned.

    Each failure is logged once per outage (``outage``), told to ``on_retry`` (counters), then
    waited out with ``backoff``, or longer when the far side asked for it (Retry-After, up to
    MAX_RETRY_AFTER_S); the recovery is logged once. Any other error (SinkRejectedError: refused
    for good) goes to the caller. The one retry loop of stores, sinks, forwarders and the outbox.
    """
    while True:
        try:
            result = await attempt()
        except RetryableSinkError as exc:
            outage.failed(exc.reason)
            if on_retry is not None:
                told = on_retry(exc)
                if told is not None:
                    await told
            wait = backoff.next_delay()
            asked = exc.retry_after_s if isinstance(exc, DestinationBusyError) else None
            if asked is not None:
                wait = max(wait, min(asked, MAX_RETRY_AFTER_S))
            await asyncio.sleep(wait)
            continue
        backoff.reset()
        outage.recovered()
        return result
