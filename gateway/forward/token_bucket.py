"""A token bucket: the backlog drains at a bounded rate, so catching up never swamps a 4G link."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` records per second, bursts up to one second's worth (or one whole chunk)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._clock = clock
        self._tokens = rate
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def delay_for(self, count: int) -> float:
        """Seconds to wait before ``count`` records may go; takes them when the answer is 0."""
        self._refill()
        # A chunk larger than the burst may go once the bucket is full, leaving it in debt.
        need = min(float(count), self.rate)
        if self._tokens >= need:
            self._tokens -= count
            return 0.0
        return (need - self._tokens) / self.rate

    async def take(self, count: int) -> None:
        # Two rounds at most: the first wait refills what was missing.
        for _ in range(2):
            delay = self.delay_for(count)
            if delay <= 0:
                return
            await asyncio.sleep(delay)
        self._tokens -= count  # clock skew: go anyway, in debt
