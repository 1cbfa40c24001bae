"""Replay on every core: the site's channels dealt to worker processes, the alarms as one process.

The parent reads the file (pyarrow, in a thread), keeps file order (``FileOrder``, cuts at rewinds)
and gives each worker its channels' share of every part, with the part's data time. Each worker
runs the engine of its share of the site (the site cut down to its devices and their rules:
``smartsite.replay.shares``) and lets the same time pass after each part as the single process
would (``engine.tick`` at the file's newest time so far), so every channel sees exactly the calls
it would see alone. Workers hand back their grade transitions, numbered as the site's bindings;
the parent sorts each call's transitions from every worker as the engine sorts them (data time,
then binding), and one alarm book turns them into events: the same events, in the same order, as
a single-process replay.

Which worker owns which channels: ``smartsite.replay.partition`` (rules that tie channels together
keep them in one process). The parent judges the first share itself, between sending the others;
worker processes come from a fork server (``spawn`` where there is none), so nothing of the
parent's state (threads, open files) leaks into them.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import sys
import time
import traceback
from collections import Counter, deque
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from analytics import Transitions
from gateway.config import SiteConfig
from gateway.site import Site
from gateway.vocab import AlarmEvent, Quality
from smartsite.replay.file_order import PREFETCH, FileOrder, file_parts, prefetch
from smartsite.replay.partition import assign
from smartsite.replay.progress import Progress
from smartsite.replay.readers import CHUNK_BYTES, ReadingReader
from smartsite.replay.shares import Share, engine_of, plan_shares
from smartsite.replay.summary import AlarmInterval, ReplaySummary, track

# Chunks sent ahead of the one being merged: the parent works on while the processes start and
# catch up, and memory stays bounded (a chunk's share is about 20 bytes a reading).
IN_FLIGHT = 4
log = logging.getLogger(__name__)
POLL_S = 0.5
# The parent's share of the channels against a worker process's 1.0: it also reads the file, keeps
# its order, hands the shares out and writes the events.
PARENT_SHARE = 1.0
# Inputs smaller than this replay on one process unless told otherwise: a few chunks do not pay
# for starting the workers.
PARALLEL_BYTES = 4 * CHUNK_BYTES  # how often a parent waiting on workers checks they are still alive

# Transitions as plain arrays (field order of ``Transitions``), None when there are none.
Packed = tuple[npt.NDArray[Any], ...] | None
# One part for a worker: its share (ts, column, value), the data time to tick at (None: the part was
# empty for every worker, so no call at all), the channel whose time line restarts after it (or -1).
Step = tuple[npt.NDArray[np.float64], npt.NDArray[np.int32], npt.NDArray[np.float64], float | None, int]


class ReplayWorkerError(RuntimeError):
    """A worker process failed or died; the replay stops."""


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _pack(t: Transitions, to_global: npt.NDArray[np.intp]) -> Packed:
    """A share's transitions with the site's binding numbers."""
    if not len(t):
        return None
    return tuple(
        to_global[t.binding] if name == "binding" else getattr(t, name) for name in Transitions.__slots__
    )


def _merge(parts: list[Packed]) -> Transitions | None:
    """Transitions of several workers for one call, in the engine's order (time, then binding).

    Workers own disjoint bindings, and each worker's list is already in that order, so a stable
    sort of their concatenation is exactly what one engine would have produced.
    """
    present = [p for p in parts if p is not None]
    if not present:
        return None
    fields = [np.concatenate([p[i] for p in present]) for i in range(len(Transitions.__slots__))]
    joined = Transitions(*fields)
    order = np.lexsort((joined.binding, joined.ts))
    return Transitions(*(f[order] for f in fields))


class _Share:
    """The engine of one worker's share of the site: in a worker process, or in the parent."""

    def __init__(self, share: Share) -> None:
        self.engine = engine_of(share)
        self.mine = share.to_global

    def handle(self, message: tuple[Any, ...]) -> tuple[str, Any]:
        """A chunk's steps, or the finish: the transitions of the bindings this share owns."""
        engine, mine = self.engine, self.mine
        if message[0] == "finish":
            return "finish", _pack(engine.tick(message[1]), mine)
        _, number, steps = message
        rejected: Counter[str] = Counter()
        results: list[tuple[Packed, Packed]] = []
        for ts, column, value, now, restart in steps:
            found: Packed = None
            ticked: Packed = None
            if now is not None:
                if len(ts):
                    quality = np.full(len(ts), Quality.GOOD, dtype=np.uint8)
                    result = engine.process(ts, column, value, quality)
                    rejected.update(result.rejected)
                    found = _pack(result.transitions, mine)
                ticked = _pack(engine.tick(now), mine)
            if restart >= 0:
                engine.restart_time_line(np.array([restart], dtype=np.intp))
            results.append((found, ticked))
        return "chunk", (number, results, rejected)


def _work(spec: Share, inbox: Queue[Any], outbox: Queue[Any], me: int) -> None:
    """A worker process: its share of every message, the answers back, until told to stop."""
    try:
        share = _Share(spec)
        while True:
            message = inbox.get()
            if message[0] == "stop":
                return
            kind, payload = share.handle(message)
            outbox.put((kind, me, payload))
    except BaseException:  # handed to the parent, which stops the replay with it
        outbox.put(("error", me, traceback.format_exc()))


def _context() -> Any:
    """``forkserver`` where there is one (one interpreter start, the core imported once, then a fork
    per worker), else ``spawn``; never a plain fork of the parent and its threads."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        # The caller's main module too, as multiprocessing's default does: each worker would
        # otherwise import it again after the fork.
        ctx.set_forkserver_preload(["__main__", __name__])
        return ctx
    return mp.get_context("spawn")


class _Pool:
    """Worker 0 is the parent itself (its share runs as it is sent); workers 1.. are processes,
    started first so they get ready while the parent works. Detects failed and dead workers."""

    def __init__(self, shares: list[Share]) -> None:
        workers = len(shares)
        ctx = _context()
        self.outbox: Queue[Any] = ctx.Queue()
        self.inboxes: dict[int, Queue[Any]] = {w: ctx.Queue() for w in range(1, workers)}
        # Each worker builds the site itself (its engine, never shared).
        self.procs: list[BaseProcess] = [
            ctx.Process(
                target=_work,
                args=(shares[w], self.inboxes[w], self.outbox, w),
                name=f"replay-worker-{w}",
                daemon=True,
            )
            for w in range(1, workers)
        ]
        for proc in self.procs:
            proc.start()
        self.local = _Share(shares[0])
        self.answered: deque[tuple[str, int, Any]] = deque()

    def send(self, worker: int, message: tuple[Any, ...]) -> None:
        if worker == 0:
            kind, payload = self.local.handle(message)
            self.answered.append((kind, 0, payload))
        else:
            self.inboxes[worker].put(message)

    def get(self) -> tuple[str, int, Any]:
        """The next answer of any worker."""
        if self.answered:
            return self.answered.popleft()
        while True:
            try:
                kind, worker, payload = self.outbox.get(timeout=POLL_S)
            except queue.Empty:
                dead = [p for p in self.procs if not p.is_alive()]
                if not dead:
                    continue
                try:  # a worker's last words (its error) may have come in meanwhile
                    kind, worker, payload = self.outbox.get(timeout=POLL_S)
                except queue.Empty:
                    raise ReplayWorkerError(f"{dead[0].name} ended (exit code {dead[0].exitcode})") from None
            if kind == "error":
                raise ReplayWorkerError(f"replay worker {worker} failed:\n{payload}")
            return kind, worker, payload

    def close(self) -> None:
        for inbox in self.inboxes.values():
            inbox.put(("stop",))
        deadline = time.monotonic() + 5.0
        for proc in self.procs:
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=1.0)
        for q in [*self.inboxes.values(), self.outbox]:
            q.cancel_join_thread()  # nothing left anyone needs; never hang at exit on a full pipe
            q.close()


class _Ledger:
    """The parent's side: one alarm book, the counts and each alarm's interval, as ``Replayer``."""

    def __init__(self, site: Site) -> None:
        _, self.book = site.analytics()
        self.rejected: Counter[str] = Counter()
        self.readings = 0
        self.first_ts = np.inf
        self.last_ts = -np.inf
        self.alarms: dict[str, AlarmInterval] = {}

    def saw(self, ts: npt.NDArray[np.float64]) -> None:
        self.readings += len(ts)
        self.first_ts = min(self.first_ts, float(ts.min()))
        self.last_ts = max(self.last_ts, float(ts.max()))

    def events(self, parts: list[Packed]) -> list[AlarmEvent]:
        merged = _merge(parts)
        if merged is None:
            return []
        found = self.book.apply(merged)
        for event in found:
            track(self.alarms, event)
        return found


def _split(
    ts: npt.NDArray[np.float64],
    column: npt.NDArray[np.int32],
    value: npt.NDArray[np.float64],
    owner: npt.NDArray[np.int32],
    shares: list[Share],
) -> Iterator[tuple[npt.NDArray[np.float64], npt.NDArray[np.int32], npt.NDArray[np.float64]]]:
    """Each share's readings of a part, in file order, in the share's columns."""
    who = owner[column]
    for w, share in enumerate(shares):
        take = who == w  # a mask per share: cheaper than sorting for the few shares there are
        yield ts[take], share.to_local[column[take]], value[take]


def replay_on_cores(
    config: SiteConfig,
    input_path: Path,
    output_path: Path,
    workers: int,
    report_dir: Path | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    progress: bool = True,
    stream: TextIO | None = None,
) -> ReplaySummary | None:
    """``replay`` with the channels dealt to ``workers`` processes; the same events and summary.
    None when the site does not split into shares: ``replay`` then runs it on one process."""
    stream = stream if stream is not None else sys.stderr
    started = time.perf_counter()
    site = Site(config)
    owner = assign(site, workers, PARENT_SHARE)
    workers = int(owner.max()) + 1 if len(owner) else 1
    shares = plan_shares(site, owner, workers) if workers > 1 else None
    if shares is None:  # one group of channels (or shares that do not add up): one process
        if workers > 1:
            log.warning("replay: the site's rules do not split into shares; replaying on one process")
        return None
    reader = ReadingReader(input_path, site.index, chunk_bytes, timezone=config.site.timezone)
    ledger = _Ledger(site)
    order = FileOrder(len(site.index))
    bar = Progress(stream, enabled=progress)
    events = 0
    output_path.parent.mkdir(parents=True, exist_ok=True)
    pool = _Pool(shares)
    got: dict[int, dict[int, tuple[list[tuple[Packed, Packed]], Counter[str]]]] = {}
    pending: deque[int] = deque()

    def merge(number: int, out: TextIO) -> int:
        while len(got.get(number, {})) < workers:
            kind, worker, payload = pool.get()
            assert kind == "chunk"
            got.setdefault(payload[0], {})[worker] = (payload[1], payload[2])
        answers = got.pop(number)
        found: list[AlarmEvent] = []
        steps = len(answers[0][0])
        for i in range(steps):
            found += ledger.events([answers[w][0][i][0] for w in range(workers)])
            found += ledger.events([answers[w][0][i][1] for w in range(workers)])
        for w in range(workers):
            ledger.rejected.update(answers[w][1])
        if found:
            out.write("".join(e.to_json() + "\n" for e in found))
        return len(found)

    with output_path.open("w", encoding="utf-8") as out:
        try:
            for number, chunk in enumerate(prefetch(reader) if PREFETCH else reader):
                steps: list[list[Step]] = [[] for _ in range(workers)]
                for ts, column, value, restart in file_parts(order, chunk, ledger.rejected):
                    now = None
                    if len(ts):
                        ledger.saw(ts)
                        now = ledger.last_ts
                    for w, (w_ts, w_col, w_val) in enumerate(_split(ts, column, value, owner, shares)):
                        # Only the channel's own share restarts its time line.
                        mine = restart >= 0 and owner[restart] == w
                        local = int(shares[w].to_local[restart]) if mine else -1
                        steps[w].append((w_ts, w_col, w_val, now, local))
                for w in [*range(1, workers), 0]:  # the processes' shares first: they work meanwhile
                    pool.send(w, ("chunk", number, steps[w]))
                pending.append(number)
                while len(pending) > IN_FLIGHT:
                    events += merge(pending.popleft(), out)
                bar.update(reader.stats.bytes_done, reader.stats.bytes_total, reader.stats.rows)
            while pending:
                events += merge(pending.popleft(), out)
            if np.isfinite(ledger.last_ts):
                for w in range(workers):
                    pool.send(w, ("finish", ledger.last_ts))
                finals: dict[int, Packed] = {}
                while len(finals) < workers:
                    kind, worker, payload = pool.get()
                    assert kind == "finish"
                    finals[worker] = payload
                found = ledger.events([finals[w] for w in range(workers)])
                out.write("".join(e.to_json() + "\n" for e in found))
                events += len(found)
        finally:
            bar.close()
            pool.close()
    summary = ReplaySummary(
        input=str(input_path),
        format=reader.format,
        rows=reader.stats.rows,
        readings=ledger.readings,
        rejected=reader.stats.rejected + ledger.rejected,
        unknown_channels=reader.stats.unknown_channels,
        events=events,
        first_ts=ledger.first_ts,
        last_ts=ledger.last_ts,
        alarms=ledger.alarms,
        workers=workers,
    )
    summary.seconds = time.perf_counter() - started
    if report_dir is not None:
        from smartsite.replay.report import write_report

        write_report(report_dir, config, site, input_path, summary, chunk_bytes)
    return summary
