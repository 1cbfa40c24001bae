"""Log a failure once and its recovery once, however many times the poll or connect is retried."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

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
