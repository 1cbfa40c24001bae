"""The local store: readings, alarm events and crane cycles in SQLite (WAL), and the forward queues.

One transaction stores a batch and queues it for every destination, so a record is either stored
and queued everywhere or not at all. The store answers the forwarders (pending segments, acks),
the retention (``drivers.store_retention``) and the history API, all from one worker thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from drivers.sqlite_file import SqliteFile
from drivers.store_history import HistoryResult, channel_history
from drivers.store_retention import Retention, RetentionReport, enforce_retention
from drivers.store_schema import last_seq, migrate
from gateway.vocab import AlarmEvent, ChannelMeta, ForwardChunk, RecordKind, RetryableSinkError, SinkBatch

log = logging.getLogger(__name__)

SEGMENT_READINGS = 2000  # readings per queue segment: one MQTT message or InfluxDB request
ROOM_EVICTION_EVERY_S = 60.0
PAGE_CACHE_KIB = 32 * 1024
WAL_CHECKPOINT_PAGES = 16_384  # of 4 kB: 64 MB, journal_size_limit


@dataclass(frozen=True, slots=True)
class Pending:
    """A destination's queue at a glance."""

    records: int
    segments: int
    oldest_created: float | None


@dataclass(slots=True)
class StoreCounters:
    readings_written: int = 0  # since this process opened the store
    readings_held: int = 0  # in the file now: counted at open, plus inserts, minus evictions
    duplicates: int = 0
    evicted: int = 0
    evicted_unsent: Counter[str] = field(default_factory=Counter)


class SqliteStore(SqliteFile):
    """Sink writing every reading, alarm event and crane cycle to one SQLite file, and queueing
    them for the forwarding destinations named at construction.

    ``write`` is never called after ``__aexit__``. A locked or full database raises
    RetryableSinkError so the batch is kept; the store never drops a batch itself.
    """

    name = "sqlite"

    def __init__(
        self,
        path: str | Path,
        channels: Sequence[ChannelMeta] | Sequence[str],
        site: str = "site",
        destinations: Sequence[str] = (),
        retention: Retention | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # FULL: each commit reaches the disk before the sources are told (an MQTT PUBACK to the
        # broker), so a power cut loses nothing that was acknowledged. NORMAL would survive a
        # crash of the process but could lose the last commits to a power cut.
        super().__init__(path, "", synchronous="FULL", thread_name="sqlite")
        # Destinations name channels by this list's positions; channels found only in the file
        # (removed from the config since) are appended at open, so their backlog still has names.
        self.channels: list[ChannelMeta] = [
            c if isinstance(c, ChannelMeta) else _meta_of(c) for c in channels
        ]
        self._configured = len(self.channels)
        self.site = site
        self.destinations = tuple(destinations)
        self.retention = retention or Retention()
        self._clock = clock
        self._db_id_of_column: np.ndarray = np.empty(0, np.int64)
        self._column_of_db_id: np.ndarray = np.empty(0, np.int32)
        self.counters = StoreCounters()
        self._duplicates_logged = False
        self._pending_counts: Counter[str] = Counter()
        self._last_room_eviction = -ROOM_EVICTION_EVERY_S

    # Opening

    def _opened(self, db: sqlite3.Connection) -> None:
        migrate(db)
        # Bound the WAL file: it is truncated to this after each checkpoint.
        db.execute("PRAGMA journal_size_limit=67108864")
        # Each write touches the newest index page of every channel it has readings of: with
        # SQLite's default 2 MB page cache a site of 1,000 channels rereads them each time (3 M
        # readings stored: 12 us a reading written, 6 us with this; measured in a test bench).
        db.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        # A write's INSERT … SELECT keeps a statement journal (the old content of every page it
        # changes, to undo the statement alone): one page per channel written, 4 MB at 1,000
        # channels, past the 64 kB SQLite keeps in memory, so it went to a temporary file on every
        # write. In memory it costs a few MB while the write lasts (benchmarks/store_write.py:
        # the store's CPU per reading 10.2 -> 8.3 us at 1,000 channels).
        db.execute("PRAGMA temp_store=MEMORY")
        # Checkpoint when the WAL holds 64 MB (the size it is truncated to), not SQLite's 4 MB: at
        # 1,000 channels every write rewrites ~1,000 index pages, so the default checkpointed after
        # nearly every write and copied the same pages each time (a test bench of 2,500-reading
        # writes: 10.4 -> 5.1 us a reading for the commit, 17 -> 11 us for the whole write).
        db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        names = [c.id for c in self.channels]
        db.executemany("INSERT OR IGNORE INTO channels(name) VALUES (?)", [(n,) for n in names])
        db.commit()
        # One scan at open (rowids have gaps from ignored duplicates, so max-min would overcount).
        self.counters.readings_held = int(db.execute("SELECT COUNT(*) FROM readings").fetchone()[0])
        ids = dict(db.execute("SELECT name, id FROM channels"))
        for name in sorted(set(ids) - set(names)):
            self.channels.append(_meta_of(name))
        self._db_id_of_column = np.array([ids[c.id] for c in self.channels], np.int64)
        column_of = np.full(max(ids.values(), default=0) + 1, -1, np.int32)
        column_of[self._db_id_of_column] = np.arange(len(self.channels), dtype=np.int32)
        self._column_of_db_id = column_of

    # Writing

    async def write(self, batch: SinkBatch) -> None:
        await self.append([batch])

    async def append(self, batches: Sequence[SinkBatch]) -> dict[str, list[ForwardChunk]]:
        """Store the batches and queue them for every destination, in one transaction.

        Returns, per destination, the live chunks just queued. A full disk evicts the oldest
        records (counted; at most once a minute, so a disk that stays full does not empty the
        store) and tries once more; every database failure raises RetryableSinkError.
        """
        try:
            chunks: dict[str, list[ForwardChunk]] = await self._run(self._append, batches)
        except sqlite3.Error as exc:
            if "full" not in str(exc):
                raise RetryableSinkError(self.name, str(exc)) from exc  # locked, I/O error: keep it
            # The write-ahead log may hold most of the disk (many versions of the same pages):
            # fold it into the database and cut it to nothing, then try once more.
            with contextlib.suppress(sqlite3.Error):
                await self._run(self._truncate_wal)
            try:
                return await self._run(self._append, batches)
            except sqlite3.Error as still:
                if "full" not in str(still) or not self._may_evict_for_room():
                    raise RetryableSinkError(self.name, str(still)) from still
            log.error("local store: disk full (%s); evicting the oldest records", exc)
            try:
                await self._run(self._evict_for_room)
                with contextlib.suppress(sqlite3.Error):
                    await self._run(self._truncate_wal)
                chunks = await self._run(self._append, batches)
            except sqlite3.Error as again:
                raise RetryableSinkError(self.name, str(again)) from again
        return chunks

    def _truncate_wal(self) -> None:
        self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def _may_evict_for_room(self) -> bool:
        now = time.monotonic()
        if now - self._last_room_eviction < ROOM_EVICTION_EVERY_S:
            return False
        self._last_room_eviction = now
        return True

    def _append(self, batches: Sequence[SinkBatch]) -> dict[str, list[ForwardChunk]]:
        db = self._conn()
        now = self._clock()
        out: dict[str, list[ForwardChunk]] = {d: [] for d in self.destinations}
        self._pending_counts = Counter()
        with db:
            readings = [b.readings for b in batches if len(b.readings)]
            if readings:
                self._append_readings(db, readings, now, out)
            events = [e for b in batches for e in b.events]
            if events:
                self._append_documents(db, RecordKind.EVENTS, [_event_row(e) for e in events], now, out)
            cycles = [c for b in batches for c in b.cycles]
            if cycles:
                rows = [(c.id, c.crane, c.start_s, _json(c.to_dict())) for c in cycles]
                self._append_documents(db, RecordKind.CYCLES, rows, now, out)
        # Counted only once committed: a rolled-back attempt is tried again.
        self.counters.readings_written += self._pending_counts["readings"]
        self.counters.readings_held += self._pending_counts["readings"]
        if self._pending_counts["duplicates"]:
            self._count_duplicates(self._pending_counts["duplicates"])
        return out

    def _append_readings(
        self, db: sqlite3.Connection, readings: Sequence[Any], now: float, out: dict[str, list[ForwardChunk]]
    ) -> None:
        ts = np.concatenate([r.ts for r in readings])
        column = np.concatenate([r.channel for r in readings])
        value = np.concatenate([r.value for r in readings])
        quality = np.concatenate([r.quality for r in readings])
        db_ids = self._db_id_of_column[column]
        before = last_seq(db, "readings")
        changes = db.total_changes
        db.execute(_INSERT_READINGS, (_rows_json(ts, db_ids, value, quality),))
        inserted = db.total_changes - changes
        self._pending_counts["readings"] += inserted
        if inserted < len(ts):
            self._pending_counts["duplicates"] += len(ts) - inserted
            if inserted == 0:
                return
            # Some were already stored (a message delivered again): queue what is really new.
            # (An ignored row still uses up a sequence number: read back what was really stored.)
            seq, ts, column, value, quality = self._load_readings(db, before + 1, last_seq(db, "readings"))
        else:
            seq = np.arange(before + 1, before + 1 + inserted, dtype=np.int64)
        for lo in range(0, len(seq), SEGMENT_READINGS):
            part = slice(lo, lo + SEGMENT_READINGS)
            first, last = int(seq[part][0]), int(seq[part][-1])
            for dest in self.destinations:
                segment = _queue(db, dest, RecordKind.READINGS, first, last, len(seq[part]), now)
                out[dest].append(
                    ForwardChunk(
                        id=f"{self.site}-{RecordKind.READINGS}-{first}-{last}",
                        site=self.site,
                        kind=RecordKind.READINGS,
                        segment=segment,
                        seq=seq[part],
                        ts=ts[part],
                        channel=column[part],
                        value=value[part],
                        quality=quality[part],
                        live=True,
                    )
                )

    def _append_documents(
        self,
        db: sqlite3.Connection,
        kind: str,
        rows: list[tuple[Any, ...]],
        now: float,
        out: dict[str, list[ForwardChunk]],
    ) -> None:
        table, columns = _DOCUMENT_TABLES[kind]
        before = last_seq(db, table)
        marks = ",".join("?" * len(columns))
        changes = db.total_changes
        db.executemany(f"INSERT OR IGNORE INTO {table}({','.join(columns)}) VALUES ({marks})", rows)
        inserted = db.total_changes - changes
        if inserted == 0:
            return
        seq, ts, bodies = self._load_documents(db, kind, before + 1, last_seq(db, table))
        first, last = int(seq[0]), int(seq[-1])
        for dest in self.destinations:
            segment = _queue(db, dest, kind, first, last, len(seq), now)
            out[dest].append(
                ForwardChunk(
                    id=f"{self.site}-{kind}-{first}-{last}",
                    site=self.site,
                    kind=kind,
                    segment=segment,
                    seq=seq,
                    ts=ts,
                    documents=bodies,
                    live=True,
                )
            )

    def _count_duplicates(self, count: int) -> None:
        self.counters.duplicates += count
        if not self._duplicates_logged:
            self._duplicates_logged = True
            log.warning(
                "local store: %d reading(s) already stored for the same channel and time "
                "(a message delivered again, or a device repeating a timestamp) were not stored "
                "twice; further ones are only counted",
                count,
            )

    # Loading back

    def _load_readings(
        self, db: sqlite3.Connection, first: int, last: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        rows = db.execute(
            "SELECT seq, ts, channel, value, quality FROM readings WHERE seq BETWEEN ? AND ? ORDER BY seq",
            (first, last),
        ).fetchall()
        if not rows:
            empty = np.empty(0)
            return (
                empty.astype(np.int64),
                empty,
                empty.astype(np.int32),
                empty,
                empty.astype(np.uint8),
            )
        seq, ts, db_channel, value, quality = zip(*rows, strict=True)
        return (
            np.asarray(seq, np.int64),
            np.asarray(ts, np.float64),
            self._column_of_db_id[np.asarray(db_channel, np.int64)],
            np.asarray([np.nan if v is None else v for v in value], np.float64),
            np.asarray(quality, np.uint8),
        )

    def _load_documents(
        self, db: sqlite3.Connection, kind: str, first: int, last: int
    ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        table, _ = _DOCUMENT_TABLES[kind]
        rows = db.execute(
            f"SELECT seq, ts, body FROM {table} WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last)
        ).fetchall()
        return (
            np.asarray([r[0] for r in rows], np.int64),
            np.asarray([r[1] for r in rows], np.float64),
            tuple(r[2] for r in rows),
        )

    # The forward queues

    async def backlog(
        self, destination: str, kind: str, after: int, limit: int, max_records: int = 4 * SEGMENT_READINGS
    ) -> list[ForwardChunk]:
        """Queued segments of one kind after segment ``after``, oldest first, loaded: at most
        ``limit`` segments and, past the first, no more than ``max_records`` records in all."""
        chunks: list[ForwardChunk] = await self._run(
            self._backlog, destination, kind, after, limit, max_records
        )
        return chunks

    def _backlog(
        self, destination: str, kind: str, after: int, limit: int, max_records: int
    ) -> list[ForwardChunk]:
        db = self._conn()
        segments: list[tuple[int, int, int]] = []
        records = 0
        for segment, first, last, count in db.execute(
            "SELECT id, first_seq, last_seq, count FROM forward_queue"
            " WHERE destination=? AND kind=? AND id>? ORDER BY id LIMIT ?",
            (destination, kind, after, limit),
        ):
            if segments and records + count > max_records:
                break
            segments.append((segment, first, last))
            records += count
        chunks = []
        for segment, first, last in segments:
            common: dict[str, Any] = {
                "id": f"{self.site}-{kind}-{first}-{last}",
                "site": self.site,
                "kind": kind,
                "segment": segment,
            }
            if kind == RecordKind.READINGS:
                seq, ts, column, value, quality = self._load_readings(db, first, last)
                chunks.append(
                    ForwardChunk(**common, seq=seq, ts=ts, channel=column, value=value, quality=quality)
                )
            else:
                seq, ts, bodies = self._load_documents(db, kind, first, last)
                chunks.append(ForwardChunk(**common, seq=seq, ts=ts, documents=bodies))
        return chunks

    async def acknowledge(self, destination: str, segments: Sequence[int]) -> None:
        """The destination has these segments: they leave its queue."""
        await self._run(self._acknowledge, destination, list(segments))

    def _acknowledge(self, destination: str, segments: list[int]) -> None:
        db = self._conn()
        with db:
            db.executemany(
                "DELETE FROM forward_queue WHERE id=? AND destination=?", [(s, destination) for s in segments]
            )

    async def pending(self, destination: str) -> Pending:
        result: Pending = await self._run(self._pending, destination)
        return result

    def _pending(self, destination: str) -> Pending:
        db = self._conn()
        records, segments, oldest = db.execute(
            "SELECT COALESCE(SUM(count), 0), COUNT(*), MIN(created) FROM forward_queue WHERE destination=?",
            (destination,),
        ).fetchone()
        return Pending(int(records), int(segments), oldest)

    # Retention

    async def enforce_retention(self) -> RetentionReport:
        report: RetentionReport = await self._run(self._enforce_retention)
        return report

    def _enforce_retention(self) -> RetentionReport:
        report = enforce_retention(self._conn(), self.retention, self._clock())
        self._count_eviction(report)
        return report

    def _evict_for_room(self) -> None:
        report = enforce_retention(self._conn(), self.retention, self._clock(), force_fraction=0.1)
        self._count_eviction(report)

    def _count_eviction(self, report: RetentionReport) -> None:
        self.counters.evicted += report.evicted
        self.counters.readings_held = max(0, self.counters.readings_held - report.evicted_readings)
        self.counters.evicted_unsent.update(report.unsent_by_destination)

    def size_bytes(self) -> int:
        """Bytes on disk: the database and its write-ahead log (pages freed by eviction are reused;
        the log is cut back at checkpoints and when the disk is full)."""
        total = 0
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            with contextlib.suppress(OSError):
                total += path.stat().st_size
        return total

    def stats(self) -> dict[str, int]:
        return {
            "readings": self.counters.readings_held,
            "readings_written_since_start": self.counters.readings_written,
            "bytes": self.size_bytes(),
            "evicted": self.counters.evicted,
            "duplicates": self.counters.duplicates,
        }

    # Reading back (API, tests)

    async def history(self, channel: str, start: float, end: float, step: float | None) -> HistoryResult:
        result: HistoryResult = await self._run(channel_history, self._conn(), channel, start, end, step)
        return result

    async def alarm_events(self, limit: int = 1000) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = await self._run(self._alarm_events, limit)
        return events

    def _alarm_events(self, limit: int) -> list[dict[str, Any]]:
        cur = self._conn().execute("SELECT body FROM alarm_events ORDER BY ts DESC LIMIT ?", (limit,))
        return [json.loads(body) for (body,) in cur]

    async def count(self, table: str) -> int:
        if table not in ("readings", "alarm_events", "cycles", "forward_queue"):
            raise ValueError(f"no table {table!r}")
        n: int = await self._run(lambda: self._conn().execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        return n


_DOCUMENT_TABLES = {
    RecordKind.EVENTS: (
        "alarm_events",
        ("id", "alarm_id", "ts", "channel", "rule", "grade", "state", "body"),
    ),
    RecordKind.CYCLES: ("cycles", ("id", "crane", "ts", "body")),
}


def _queue(
    db: sqlite3.Connection, dest: str, kind: str, first: int, last: int, count: int, now: float
) -> int:
    cur = db.execute(
        "INSERT INTO forward_queue(destination, kind, first_seq, last_seq, count, created)"
        " VALUES (?,?,?,?,?,?)",
        (dest, kind, first, last, count, now),
    )
    return int(cur.lastrowid or 0)


def _meta_of(channel_id: str) -> ChannelMeta:
    device, _, quantity = channel_id.rpartition(".")
    return ChannelMeta(channel_id, device or channel_id, quantity)


def _event_row(event: AlarmEvent) -> tuple[Any, ...]:
    return (
        event.id,
        event.alarm_id,
        event.ts,
        event.channel,
        event.rule,
        event.grade,
        event.state,
        event.to_json(),
    )


# The readings of a write go in as one JSON document of rows, inserted by one statement: SQLite
# then runs the whole insert without the GIL. With ``executemany`` the thread released and took
# the GIL again for every row, and each time waited for a busy event loop to give it up (a write of
# 20,000 readings took 1.5 s instead of 0.08 s while the loop was busy: the store fell behind
# exactly under load). ``->>`` needs SQLite 3.38; ``json_extract`` does the same before it.
_FIELD = "value->>{}" if sqlite3.sqlite_version_info >= (3, 38) else "json_extract(value, '$[{}]')"
_INSERT_READINGS = (
    "INSERT OR IGNORE INTO readings(ts, channel, value, quality) SELECT "
    + ", ".join(_FIELD.format(i) for i in range(4))
    + " FROM json_each(?)"
)


def _rows_json(ts: np.ndarray, channel: np.ndarray, value: np.ndarray, quality: np.ndarray) -> str:
    """[[ts, channel, value, quality], ...] exactly (the shortest repr of each double reads back as
    the same double): NaN as null (stored as NULL), an infinity as a number beyond the double range,
    which SQLite reads as one (its JSON has no Infinity)."""
    text = json.dumps(np.column_stack([ts, channel, value, quality]).tolist())
    if not np.isfinite(value).all():
        text = text.replace("NaN", "null").replace("Infinity", "1e999")
    return text


def _json(document: dict[str, Any]) -> str:
    """JSON with every non-finite number as null: other parsers refuse NaN and Infinity."""
    clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in document.items()}
    return json.dumps(clean, ensure_ascii=False, allow_nan=False)
