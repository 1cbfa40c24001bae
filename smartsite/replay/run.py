"""Replay: recorded readings through the site's analytics, alarm events out, as fast as it goes.

The analytics are the live ones (``Site(config).engine()`` and the ``AlarmBook``), fed chunk by
chunk; only the I/O differs. Readings count in file order: a reading older than an earlier reading
of its channel is rejected as ``out_of_order`` wherever the chunks were cut, so the result never
depends on the chunk size. File order is arrival order, so a channel whose clock was set back
rewinds as on the live path (``analytics.rewind``): three readings in a row behind, in order among
themselves, start its new time line.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from queue import Empty, Full, Queue
from typing import TextIO

import numpy as np
import numpy.typing as npt

from analytics import Transitions
from analytics.rewind import REWIND_AFTER, REWOUND
from gateway.config import SiteConfig
from gateway.site import Site
from gateway.vocab import AlarmEvent, Quality
from smartsite.replay.progress import Progress
from smartsite.replay.readers import CHUNK_BYTES, Chunk, ReadingReader
from smartsite.replay.summary import AlarmInterval, ReplaySummary, track

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


class Replayer:
    """Feeds chunks of readings through a site's engine and alarm book; keeps the summary."""

    def __init__(self, config: SiteConfig) -> None:
        self.site = Site(config)
        self.engine, self.book = self.site.analytics()
        self.order = FileOrder(len(self.site.index))
        self.rejected: Counter[str] = Counter()
        self.readings = 0
        self.first_ts = np.inf
        self.last_ts = -np.inf
        self.alarms: dict[str, AlarmInterval] = {}

    def feed(self, chunk: Chunk) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        for ts, column, value, restart in file_parts(self.order, chunk, self.rejected):
            events += self._feed(ts, column, value)
            if restart >= 0:
                self.engine.restart_time_line(np.array([restart], dtype=np.intp))
        return events

    def _feed(
        self, ts: npt.NDArray[np.float64], column: npt.NDArray[np.int32], value: npt.NDArray[np.float64]
    ) -> list[AlarmEvent]:
        if not len(ts):
            return []
        self.readings += len(ts)
        self.first_ts = min(self.first_ts, float(ts.min()))
        self.last_ts = max(self.last_ts, float(ts.max()))
        quality = np.full(len(ts), Quality.GOOD, dtype=np.uint8)
        result = self.engine.process(ts, column, value, quality)
        self.rejected.update(result.rejected)
        # Time passes with the data: a sensor that went quiet is noticed (as the live clock would).
        return self._events(result.transitions) + self._events(self.engine.tick(self.last_ts))

    def finish(self) -> list[AlarmEvent]:
        """Let the data's last time pass once more (nothing new unless a rule waits on time)."""
        if not np.isfinite(self.last_ts):
            return []
        return self._events(self.engine.tick(self.last_ts))

    def _events(self, transitions: Transitions) -> list[AlarmEvent]:
        if not len(transitions):
            return []
        events = self.book.apply(transitions)
        for event in events:
            self._track(event)
        return events

    def _track(self, event: AlarmEvent) -> None:
        track(self.alarms, event)


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


def replay(
    config: SiteConfig,
    input_path: Path,
    output_path: Path,
    report_dir: Path | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    progress: bool = True,
    stream: TextIO | None = None,
    workers: int = 1,
) -> ReplaySummary:
    """Replay ``input_path`` through the site's rules, writing one alarm event per line.

    ``workers`` above 1 deals the channels to that many processes (``smartsite.replay.parallel``):
    the same events in the same order. Raises ``ReplayInputError`` when the input cannot be read at
    all; bad rows are counted.
    """
    if workers > 1:
        from smartsite.replay.parallel import replay_on_cores

        return replay_on_cores(
            config, input_path, output_path, workers, report_dir, chunk_bytes, progress, stream
        )
    stream = stream if stream is not None else sys.stderr
    started = time.perf_counter()
    replayer = Replayer(config)
    reader = ReadingReader(input_path, replayer.site.index, chunk_bytes, timezone=config.site.timezone)
    bar = Progress(stream, enabled=progress)
    events = 0
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with output_path.open("w", encoding="utf-8") as out:
        try:
            for chunk in prefetch(reader) if PREFETCH else reader:
                found = replayer.feed(chunk)
                if found:
                    out.write("".join(e.to_json() + "\n" for e in found))
                    events += len(found)
                bar.update(reader.stats.bytes_done, reader.stats.bytes_total, reader.stats.rows)
            found = replayer.finish()
            out.write("".join(e.to_json() + "\n" for e in found))
            events += len(found)
        finally:
            bar.close()
    summary = ReplaySummary(
        input=str(input_path),
        format=reader.format,
        rows=reader.stats.rows,
        readings=replayer.readings,
        rejected=reader.stats.rejected + replayer.rejected,
        unknown_channels=reader.stats.unknown_channels,
        events=events,
        first_ts=replayer.first_ts,
        last_ts=replayer.last_ts,
        alarms=replayer.alarms,
    )
    summary.seconds = time.perf_counter() - started
    if report_dir is not None:
        from smartsite.replay.report import write_report

        write_report(report_dir, config, replayer.site, input_path, summary, chunk_bytes)
    return summary
