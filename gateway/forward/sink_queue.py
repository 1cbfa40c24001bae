"""A sink's bounded queue that, when full, drops the oldest batch holding only readings.

A batch that carries an alarm event or a crane cycle is never dropped: an alarm that is raised must
reach the desk (and its pushes) however far the sink fell behind. When every waiting batch carries
one, the queue keeps the new batch beyond its bound and counts it; such batches are few and small
(events come only on grade changes), so memory stays bounded in practice.
"""

from __future__ import annotations

import asyncio
from collections import deque

from gateway.vocab import SinkBatch


def readings_only(batch: SinkBatch) -> bool:
    return not batch.events and not batch.cycles


class SinkQueue(asyncio.Queue[SinkBatch]):
    """``offer`` never blocks; ``get``/``task_done``/``join`` as for any asyncio queue."""

    def __init__(self, bound: int) -> None:
        super().__init__()  # unbounded underneath: the bound is kept by ``offer``
        self.bound = bound
        self.dropped = 0  # readings-only batches dropped to make room
        self.over_bound = 0  # batches kept beyond the bound because every waiting one held an event

    def _init(self, maxsize: int) -> None:
        self._items: deque[SinkBatch] = deque()

    def _put(self, item: SinkBatch) -> None:
        self._items.append(item)

    def _get(self) -> SinkBatch:
        return self._items.popleft()

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def at_bound(self) -> bool:
        return len(self._items) >= self.bound

    def offer(self, batch: SinkBatch) -> bool:
        """Queue ``batch``; True when the queue was full (a batch was dropped or the bound passed)."""
        was_full = self.at_bound()
        if was_full:
            self._drop_oldest_readings_only()
        self.put_nowait(batch)
        return was_full

    def _drop_oldest_readings_only(self) -> None:
        for index, waiting in enumerate(self._items):
            if readings_only(waiting):
                del self._items[index]
                self.task_done()  # it will never be got: the count join() waits on goes down
                self.dropped += 1
                return
        self.over_bound += 1
