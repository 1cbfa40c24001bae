"""Replay: recorded readings through the site's analytics, alarm events out, as fast as it goes.

The analytics are the live ones (``Site(config).engine()`` and the ``AlarmBook``), fed chunk by
chunk; only the I/O differs. Readings count in file order: a reading older than an earlier reading
of its channel is rejected as ``out_of_order`` wherever the chunks were cut, so the result never
depends on the chunk size. File order is arrival order, so a channel whose clock was set back
rewinds as on the live path (``analytics.rewind``): three readings in a row behind, in order among
themselves, start its new time line.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from analytics import Transitions
from gateway.config import SiteConfig
from gateway.site import Site
from gateway.vocab import AlarmEvent, Quality
from smartsite.replay.file_order import PREFETCH, FileOrder, file_parts, prefetch
from smartsite.replay.heap import keep_freed_memory
from smartsite.replay.progress import Progress
from smartsite.replay.readers import CHUNK_BYTES, Chunk, ReadingReader
from smartsite.replay.summary import AlarmInterval, ReplaySummary, track


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
    all; bad rows are counted. Freed memory stays in the process for the next chunk
    (``smartsite.replay.heap``).
    """
    keep_freed_memory()
    if workers > 1:
        from smartsite.replay.parallel import replay_on_cores

        on_cores = replay_on_cores(
            config, input_path, output_path, workers, report_dir, chunk_bytes, progress, stream
        )
        if on_cores is not None:
            return on_cores
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
