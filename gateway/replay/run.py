"""Replay: recorded readings through the site's analytics, alarm events out, as fast as it goes.

The analytics are the live ones (``Site(config).engine()`` and the ``AlarmBook``), fed chunk by
chunk; only the I/O differs. Readings count in file order: a reading older than an earlier reading
of its channel is rejected as ``out_of_order`` wherever the chunks were cut, so the result never
depends on the chunk size.
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
from gateway.config import SiteConfig
from gateway.models import AlarmEvent, AlarmState, Quality
from gateway.replay.progress import Progress
from gateway.replay.readers import CHUNK_BYTES, Chunk, ReadingReader
from gateway.replay.summary import AlarmInterval, ReplaySummary
from gateway.site import Site

OUT_OF_ORDER = "out_of_order"
PREFETCH = True  # parse the next chunk in a thread while the analytics run


class FileOrder:
    """Rejects readings older than an earlier reading of their channel, in file order, across chunks."""

    def __init__(self, n_channels: int) -> None:
        self.newest = np.full(n_channels, -np.inf)
        self.newest_any = -np.inf

    def keep(self, ts: npt.NDArray[np.float64], column: npt.NDArray[np.int32]) -> npt.NDArray[np.bool_]:
        n = len(ts)
        if n == 0:
            return np.ones(0, dtype=bool)
        # The usual case, a file in time order: nothing older than what came before.
        if ts[0] >= self.newest_any and bool(np.all(ts[1:] >= ts[:-1])):
            np.maximum.at(self.newest, column, ts)
            self.newest_any = float(ts[-1])
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
            keep_sorted[a:b] = run >= prior[:-1]
            self.newest[c] = prior[-1]
        self.newest_any = max(self.newest_any, float(ts.max()))
        keep = np.empty(n, dtype=bool)
        keep[order] = keep_sorted
        return keep


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
        keep = self.order.keep(chunk.ts, chunk.column)
        ts, column, value = chunk.ts, chunk.column, chunk.value
        if not keep.all():
            self.rejected[OUT_OF_ORDER] += int((~keep).sum())
            ts, column, value = ts[keep], column[keep], value[keep]
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
        interval = self.alarms.get(event.alarm_id)
        if interval is None:
            interval = AlarmInterval(event.channel, event.rule, event.ts, None, event.grade)
            self.alarms[event.alarm_id] = interval
        interval.max_grade = max(interval.max_grade, event.grade)
        interval.steps.append((event.ts, event.grade))
        if event.state == AlarmState.CLEARED:
            interval.end = event.ts


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
) -> ReplaySummary:
    """Replay ``input_path`` through the site's rules, writing one alarm event per line.

    Raises ``ReplayInputError`` when the input cannot be read at all; bad rows are counted.
    """
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
        from gateway.replay.report import write_report

        write_report(report_dir, config, replayer.site, input_path, summary, chunk_bytes)
    return summary
