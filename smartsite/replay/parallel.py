"""Replay on every core: the site's channels dealt to worker processes, the alarms as one process.

The parent reads the file (pyarrow, in a thread) and keeps file order (``FileOrder``, cuts at
rewinds); every worker gets each chunk's readings whole, with the cut points and each part's data
time, and takes its own channels' rows. Forked workers read the chunk in place from memory shared
with the parent (``_Ring``: only a slot number goes through the pipe; a sender thread writing
megabytes through a 64 kB pipe would wait for the GIL at every write while the parent computes);
others get it as raw bytes through their pipe. Nothing is pickled or split in the parent.

Each worker runs the engine of its share of the site (the site cut down to its devices and their
rules: ``smartsite.replay.shares``) and lets the same time pass after each part as the single
process would (``engine.tick`` at the file's newest time so far), so every channel sees exactly the
calls it would see alone. Workers hand back their grade transitions, numbered as the site's
bindings; the parent sorts each call's transitions from every worker as the engine sorts them (data
time, then binding), and one alarm book turns them into events: the same events, in the same order,
as a single-process replay.

Which worker owns which channels: ``smartsite.replay.partition`` (rules that tie channels together
keep them in one process). The parent judges the first share itself, between sending the others.
Worker processes are forks of the parent when it runs no other thread (``smartsite replay`` starts
them before it reads anything: ready at once, nothing imported again), else they come from a fork
server (``spawn`` where there is none), so no thread's state of the parent leaks into them.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import mmap
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections import Counter, deque
from multiprocessing.connection import Connection
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
from smartsite.replay.heap import keep_freed_memory
from smartsite.replay.partition import assign
from smartsite.replay.progress import Progress
from smartsite.replay.readers import CHUNK_BYTES, ReadingReader
from smartsite.replay.shares import Share, engine_of, plan_shares
from smartsite.replay.summary import AlarmInterval, ReplaySummary, track

# Chunks sent ahead of the one being merged: the parent works on while the processes start and
# catch up, and memory stays bounded (a chunk is about 20 bytes a reading, whole, for each worker).
IN_FLIGHT = 4
log = logging.getLogger(__name__)
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux), named in the module from Python 3.10 on
# How often a parent waiting on workers checks they are still alive.
POLL_S = 0.5
# The parent's share of the channels against a worker process's 1.0: it also reads the file, keeps
# its order, and turns every share's transitions into events and writes them. On the benchmark's
# case (100 channels x 30 days, 2 processes) that is about 0.5 of the judging now that judging a
# reading costs less; 0.3 gave the parent and the worker the same CPU seconds (0.6 before: the
# parent 1.2-1.8 s, the worker 0.9-1.1 s).
PARENT_SHARE = 0.3
# Inputs smaller than this replay on one process unless told otherwise: a few chunks do not pay
# for starting the workers.
PARALLEL_BYTES = 128 << 20

# Transitions as plain arrays (field order of ``Transitions``), None when there are none.
Packed = tuple[npt.NDArray[Any], ...] | None
# One part of a chunk, cut at rewinds: its rows [start, end) of the chunk's arrays, the data time to
# tick at after it (None: the part is empty, so no call at all), the site column whose time line
# restarts after it (or -1).
Part = tuple[int, int, float | None, int]
# A chunk as every share gets it: the readings of the whole chunk in file order (rewinds cut out),
# each share takes its own rows.
Readings = tuple[npt.NDArray[np.float64], npt.NDArray[np.int32], npt.NDArray[np.float64]]


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
    """The engine of one worker's share of the site: in a worker process, or in the parent.

    Every share is handed the whole chunk and picks its own rows (``owner``): the parent never
    splits the readings, and each process pays for selecting its own.
    """

    def __init__(self, share: Share, owner: npt.NDArray[np.int32], me: int) -> None:
        self.engine = engine_of(share)
        self.mine = share.to_global
        self.to_local = share.to_local
        self.owner = owner
        self.me = me

    def handle(self, message: tuple[Any, ...]) -> tuple[str, Any]:
        """A chunk's parts, or the finish: the transitions of the bindings this share owns."""
        engine, mine = self.engine, self.mine
        if message[0] == "finish":
            return "finish", _pack(engine.tick(message[1]), mine)
        _, number, parts, (ts, column, value) = message
        take = self.owner[column] == self.me
        rejected: Counter[str] = Counter()
        results: list[tuple[Packed, Packed]] = []
        for start, end, now, restart in parts:
            found: Packed = None
            ticked: Packed = None
            if now is not None:
                if len(parts) == 1:
                    w_ts, w_col, w_val = ts[take], column[take], value[take]
                else:
                    k = take[start:end]
                    w_ts, w_col, w_val = ts[start:end][k], column[start:end][k], value[start:end][k]
                if len(w_ts):
                    quality = np.full(len(w_ts), Quality.GOOD, dtype=np.uint8)
                    result = engine.process(w_ts, self.to_local[w_col], w_val, quality)
                    rejected.update(result.rejected)
                    found = _pack(result.transitions, mine)
                ticked = _pack(engine.tick(now), mine)
            if restart >= 0 and self.owner[restart] == self.me:  # only the channel's own share
                engine.restart_time_line(np.array([self.to_local[restart]], dtype=np.intp))
            results.append((found, ticked))
        return "chunk", (number, results, rejected)


class _Ring:
    """Chunks for the workers in memory shared with them (an anonymous map made before they are
    forked): the parent writes a chunk once, every worker reads it in place, and only a slot
    number goes through the pipe. Slot ``number % slots`` is written again only once every worker
    has answered the chunk that used it before (``IN_FLIGHT`` chunks are in flight at most)."""

    ITEM = 20  # bytes a reading: ts (8), column (4), value (8)

    def __init__(self, chunk_bytes: int) -> None:
        # A line is at least 6 bytes ("1,a,1\n"): no chunk holds more readings than that allows.
        self.capacity = chunk_bytes // 6 + 1
        self.slots = IN_FLIGHT + 1
        self.map = mmap.mmap(-1, self.slots * self.capacity * self.ITEM)

    def views(self, slot: int, n: int) -> Readings:
        base = slot * self.capacity * self.ITEM
        c = self.capacity
        return (
            np.frombuffer(self.map, dtype=np.float64, count=n, offset=base),
            np.frombuffer(self.map, dtype=np.int32, count=n, offset=base + 8 * c),
            np.frombuffer(self.map, dtype=np.float64, count=n, offset=base + 12 * c),
        )

    def put(self, number: int, arrays: Readings) -> tuple[int, int] | None:
        """The chunk written to its slot: (slot, readings); None when it does not fit."""
        n = len(arrays[0])
        if n > self.capacity:
            return None
        slot = number % self.slots
        views = self.views(slot, n)
        for i in range(3):
            views[i][:] = arrays[i]
        return slot, n

    def close(self) -> None:
        with contextlib.suppress(BufferError):  # a view still held: the map goes with it
            self.map.close()


def _receive(inbox: Connection, ring: _Ring | None) -> tuple[Any, ...]:
    """One message from the parent: a small pickled header, then a chunk's arrays, from the shared
    ring (the header names the slot) or as raw bytes through the pipe."""
    message = inbox.recv()
    if message[0] != "chunk":
        return tuple(message)
    *head, where = message
    if where is not None and ring is not None:
        return (*head, ring.views(*where))
    arrays = tuple(np.frombuffer(inbox.recv_bytes(), dtype=t) for t in (np.float64, np.int32, np.float64))
    return (*head, arrays)


def _work(
    spec: Share,
    owner: npt.NDArray[np.int32],
    inbox: Connection,
    outbox: Queue[Any],
    me: int,
    ring: _Ring | None = None,
) -> None:
    """A worker process: its share of every message, the answers back, until told to stop."""
    die_with_parent()
    keep_freed_memory()  # inherited by a fork; a spawned worker starts with glibc's defaults
    try:
        share = _Share(spec, owner, me)
        while True:
            message = _receive(inbox, ring)
            if message[0] == "stop":
                return
            kind, payload = share.handle(message)
            outbox.put((kind, me, payload))
    except BaseException:  # handed to the parent, which stops the replay with it
        outbox.put(("error", me, traceback.format_exc()))


def die_with_parent() -> None:
    """A forked worker holds the write end of its own pipe too, so a parent killed outright
    (SIGKILL, the OOM killer) would leave it waiting in ``recv`` for ever with its copy of the
    parent's memory: the kernel ends it with its parent (Linux's PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before that took hold
        os._exit(1)


def _single_threaded() -> bool:
    """True when no other Python thread runs (the libraries' idle native pools, numpy's BLAS and
    pyarrow's, are fork-aware: they stop and restart around a fork)."""
    return threading.active_count() == 1


def _context() -> Any:
    """How worker processes start.

    ``fork`` when this process runs no other Python thread (as ``smartsite replay`` before it starts
    reading): the worker is a copy of the parent with everything imported, ready at once and at no
    cost of CPU. Else ``forkserver`` where there is one (one interpreter start, the core imported once,
    then a fork per worker), else ``spawn``; never a fork of a process with other threads running.
    """
    methods = mp.get_all_start_methods()
    if "fork" in methods and _single_threaded():
        return mp.get_context("fork")
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        # The caller's main module too, as multiprocessing's default does: each worker would
        # otherwise import it again after the fork.
        ctx.set_forkserver_preload(["__main__", __name__])
        return ctx
    return mp.get_context("spawn")


class _Sender:
    """Sends one worker its messages from a thread, as ``multiprocessing.Queue`` would, but a chunk's
    arrays go as raw bytes (no pickling, one copy into the pipe and one out)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        with contextlib.suppress(OSError, ImportError):  # Linux: 1 MB writes, not 64 kB ones
            import fcntl

            fcntl.fcntl(conn.fileno(), F_SETPIPE_SZ, 1 << 20)
        self.queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="replay-sender", daemon=True)
        self.thread.start()

    def put(self, message: tuple[Any, ...]) -> None:
        self.queue.put(message)

    def _run(self) -> None:
        try:
            while (message := self.queue.get()) is not None:
                if message[0] == "chunk" and isinstance(message[-1][0], np.ndarray):  # arrays to send
                    *head, arrays = message
                    self.conn.send((*head, None))
                    for array in arrays:
                        self.conn.send_bytes(np.ascontiguousarray(array).data.cast("B"))
                else:
                    self.conn.send(message)
        except OSError:  # the worker is gone; the parent notices it by its exit
            pass

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=5.0)
        self.conn.close()


class _Pool:
    """Worker 0 is the parent itself (its share runs as it is sent); workers 1.. are processes,
    started first so they get ready while the parent works. Detects failed and dead workers."""

    def __init__(
        self, shares: list[Share], owner: npt.NDArray[np.int32], chunk_bytes: int = CHUNK_BYTES
    ) -> None:
        workers = len(shares)
        ctx = _context()
        # Forked workers share the parent's memory map; others get the chunks through their pipe.
        self.ring = _Ring(chunk_bytes) if ctx.get_start_method() == "fork" else None
        self.outbox: Queue[Any] = ctx.Queue()
        pipes = {w: ctx.Pipe(duplex=False) for w in range(1, workers)}
        # Each worker builds the site itself (its engine, never shared).
        self.procs: list[BaseProcess] = [
            ctx.Process(
                target=_work,
                args=(shares[w], owner, pipes[w][0], self.outbox, w, self.ring),
                name=f"replay-worker-{w}",
                daemon=True,
            )
            for w in range(1, workers)
        ]
        for proc in self.procs:
            proc.start()
        for reader, _ in pipes.values():
            reader.close()  # the worker's end
        self.senders = {w: _Sender(pipes[w][1]) for w in pipes}
        self.local = _Share(shares[0], owner, 0)
        self.answered: deque[tuple[str, int, Any]] = deque()

    def send(self, worker: int, message: tuple[Any, ...]) -> None:
        if worker == 0:
            kind, payload = self.local.handle(message)
            self.answered.append((kind, 0, payload))
        else:
            self.senders[worker].put(message)

    def send_chunk(self, number: int, parts: list[Part], arrays: Readings) -> None:
        """A chunk to every worker, the processes first (they work meanwhile), then the parent's."""
        where = self.ring.put(number, arrays) if self.ring is not None else None
        for w in self.senders:
            self.senders[w].put(("chunk", number, parts, arrays if where is None else where))
        self.send(0, ("chunk", number, parts, arrays))

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
        for sender in self.senders.values():
            sender.put(("stop",))
            sender.close()
        deadline = time.monotonic() + 5.0
        for proc in self.procs:
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=1.0)
        self.outbox.cancel_join_thread()  # nothing left anyone needs; never hang at exit on a full pipe
        self.outbox.close()
        if self.ring is not None:
            self.ring.close()


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
    pool = _Pool(shares, owner, chunk_bytes)
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
                pieces = list(file_parts(order, chunk, ledger.rejected))
                parts: list[Part] = []
                start = 0
                for ts, _, _, restart in pieces:
                    now = None
                    if len(ts):
                        ledger.saw(ts)
                        now = ledger.last_ts
                    parts.append((start, start + len(ts), now, restart))
                    start += len(ts)
                arrays: Readings = (
                    pieces[0][:3]
                    if len(pieces) == 1
                    else tuple(np.concatenate([p[i] for p in pieces]) for i in range(3))  # type: ignore[assignment]
                )
                pool.send_chunk(number, parts, arrays)
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
