"""Rate limits on changes: per token for accepted ones, per client address for refused ones.

A supervisor acknowledges, assigns and closes at the pace of a person: ``CHANGES_PER_S`` with a
burst of ``CHANGE_BURST`` is far above that and far below a script hammering the desk (each change
is an fsync'ed audit row). Refused changes (no token, a wrong one, a viewer's) are limited per
client address, so a token cannot be guessed at the speed of the network.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

CHANGES_PER_S = 5.0
CHANGE_BURST = 20
REFUSALS_PER_S = 0.2  # 12 a minute
REFUSAL_BURST = 10
MAX_KEYS = 10_000  # buckets kept; the oldest go first (a flood of addresses cannot grow memory)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


def monotonic() -> float:
    """The limits' clock (looked up at each call, so a test can stop it)."""
    return time.monotonic()


class RateLimit:
    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] | None = None) -> None:
        self.rate, self.burst = rate_per_s, burst
        self._clock: Callable[[], float] = clock if clock is not None else (lambda: monotonic())
        self._buckets: dict[str, _Bucket] = {}
        self.limited = 0  # requests refused for their rate, since start

    def take(self, key: str) -> float | None:
        """Take one for ``key``: None when allowed, else the seconds until one is free again."""
        now = self._clock()
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[key] = bucket  # re-inserted: the dict's order is least recently used first
        if len(self._buckets) > MAX_KEYS:
            del self._buckets[next(iter(self._buckets))]
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        self.limited += 1
        return (1.0 - bucket.tokens) / self.rate


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
