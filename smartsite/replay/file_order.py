"""Reading a recording in file order: readings older than an earlier reading of their channel are
rejected across chunks, clocks set back rewind (``analytics.rewind``), and the next chunks are
parsed in a thread meanwhile. Shared by the one-process replay (``run``) and the one on every
core (``parallel``)."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from queue import Empty, Full, Queue

import numpy as np
import numpy.typing as npt

from analytics.rewind import REWIND_AFTER, REWOUND
from smartsite.replay.readers import Chunk

OUT_OF_ORDER = "out_of_order"
PREFETCH = True  # parse the next chunk in a thread while the analytics run


class FileOrder:
    """Rejects readings older than an earlier reading of their channel, in file order, across chunks.

    After ``keep``, ``rewinds`` lists (position in the chunk, channel) of every rewind: from that
    reading on the channel follows a new, earlier time line.
    """

    def __init__(self, n_channels: int) -> None:
        self.newest = np.full(n_channels, -np.inf)
        self.newest_any = -np.inf
        self.behind = np.zeros(n_channels, dtype=np.int64)  # readings in a row behind ``newest``
        self.behind_last = np.full(n_channels, -np.inf)
        self.rewinds: list[tuple[int, int]] = []

    def keep(self, ts: npt.NDArray[np.float64], column: npt.NDArray[np.int32]) -> npt.NDArray[np.bool_]:
        n = len(ts)
        self.rewinds = []
        if n == 0:
            return np.ones(0, dtype=bool)
        # The usual case, a file in time order: nothing older than what came before.
        if ts[0] >= self.newest_any and bool(np.all(ts[1:] >= ts[:-1])):
            np.maximum.at(self.newest, column, ts)
            self.newest_any = float(ts[-1])
            self.behind[column] = 0
            return np.ones(n, dtype=bool)
        order = np.argsort(column, kind="stable")
        s_col, s_ts = column[order], ts[order]
        starts = np.flatnonzero(np.r_[True, s_col[1:] != s_col[:-1]])
        ends = np.r_[starts[1:], n]
        keep_sorted = np.ones(n, dtype=bool)
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            c = int(s_col[a])
            run = s_ts[a:b]
            prior = np.maximum.accumulate(np.r_[self.newest[c], run])
            if bool(np.all(run >= prior[:-1])):
                self.newest[c] = prior[-1]
                self.behind[c] = 0
            else:
                keep_sorted[a:b] = self._one_by_one(c, run, order[a:b])
        self.newest_any = max(self.newest_any, float(ts.max()))
        self.rewinds.sort()
        keep = np.empty(n, dtype=bool)
        keep[order] = keep_sorted
        return keep

    def _one_by_one(
        self, c: int, run: npt.NDArray[np.float64], positions: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.bool_]:
        """A channel's readings that go back in time, in file order, as the live path takes them."""
        keep = np.zeros(len(run), dtype=bool)
        newest, behind, behind_last = float(self.newest[c]), int(self.behind[c]), float(self.behind_last[c])
        for i, t in enumerate(run.tolist()):
            if t >= newest:
                keep[i], newest, behind = True, t, 0
            elif t != behind_last:  # a repeat of a stale time neither counts nor breaks the run
                behind = behind + 1 if behind and t > behind_last else 1
                behind_last = t
                if behind >= REWIND_AFTER:
                    keep[i], newest, behind = True, t, 0
                    self.rewinds.append((int(positions[i]), c))
        self.newest[c], self.behind[c], self.behind_last[c] = newest, behind, behind_last
        return keep


Part = tuple[npt.NDArray[np.float64], npt.NDArray[np.int32], npt.NDArray[np.float64], int]


def file_parts(order: FileOrder, chunk: Chunk, rejected: Counter[str]) -> Iterator[Part]:
    """The chunk's readings in file order, cut at each rewind: (ts, column, value, restart), where
    ``restart`` (>= 0) is the channel whose time line starts again after the part, else -1.

    Readings behind their channel's newest are dropped and counted in ``rejected``; a part may be
    empty (a rewind at the chunk's first reading).
    """
    keep = order.keep(chunk.ts, chunk.column)
    if not keep.all():
        rejected[OUT_OF_ORDER] += int((~keep).sum())
    if not order.rewinds:
        if keep.all():
            yield chunk.ts, chunk.column, chunk.value, -1
        else:
            yield chunk.ts[keep], chunk.column[keep], chunk.value[keep], -1
        return
    # A rewind: the part before it, the channel's time line restarted, then the rest.
    rejected[REWOUND] += len(order.rewinds)
    start = 0
    for position, channel in [*order.rewinds, (len(keep), -1)]:
        k = keep[start:position]
        yield (
            chunk.ts[start:position][k],
            chunk.column[start:position][k],
            chunk.value[start:position][k],
            channel,
        )
        start = position


def prefetch(chunks: Iterable[Chunk], depth: int = 2) -> Iterator[Chunk]:
    """Parse the next chunks in a thread while the analytics work on this one (pyarrow frees the GIL)."""
    queue: Queue[Chunk | BaseException | None] = Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        queue.put(chunk, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(None)
        except BaseException as exc:  # handed to the consumer, raised there
            queue.put(exc)

    worker = threading.Thread(target=produce, name="replay-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            with contextlib.suppress(Empty):
                queue.get_nowait()
            worker.join(timeout=0.05)
