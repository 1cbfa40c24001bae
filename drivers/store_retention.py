"""Retention of the local store: by age and by size, oldest records first, counted and logged.

"Oldest" is insertion order (``seq``), which is time order for every sane device; the age limit
finds its cut by binary search over ``seq`` (a rowid lookup per probe), so no index on time is
needed. Records evicted before a destination acknowledged them are counted against it.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections import Counter
from dataclasses import dataclass, field

from drivers.store_schema import last_seq
from gateway.vocab import RecordKind

log = logging.getLogger(__name__)

# Tables in the order they give way; size pressure evicts readings only (they are the bulk), age
# applies to every kind.
_TABLES = {RecordKind.READINGS: "readings", RecordKind.EVENTS: "alarm_events", RecordKind.CYCLES: "cycles"}
_SIZE_TARGET = 0.9  # evict down to this share of the size limit, so eviction does not run per write


@dataclass(frozen=True, slots=True)
class Retention:
    max_age_s: float | None = 90 * 86400.0
    max_bytes: int | None = 2 * 1024**3
    delete_rows_per_step: int = 50_000


@dataclass(slots=True)
class RetentionReport:
    evicted: int = 0
    evicted_readings: int = 0  # of `evicted`: the readings table's share, for the held count
    unsent_by_destination: Counter[str] = field(default_factory=Counter)
    reasons: list[str] = field(default_factory=list)


def used_bytes(db: sqlite3.Connection) -> int:
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * page_size)


def enforce_retention(
    db: sqlite3.Connection,
    retention: Retention,
    now: float,
    force_fraction: float | None = None,
) -> RetentionReport:
    """Evict by age, then by size (or ``force_fraction`` of the readings when the disk is full)."""
    report = RetentionReport()
    trim_orphans(db, report)
    if retention.max_age_s is not None:
        cutoff = now - retention.max_age_s
        for kind, table in _TABLES.items():
            cut = _last_seq_before(db, table, cutoff)
            if cut is not None:
                _evict_through(db, kind, table, cut, retention, report)
        if report.evicted:
            report.reasons.append(f"older than {retention.max_age_s / 86400:g} days")
    fraction = force_fraction
    if fraction is None and retention.max_bytes is not None:
        used = used_bytes(db)
        if used > retention.max_bytes:
            fraction = 1.0 - _SIZE_TARGET * retention.max_bytes / used
            report.reasons.append(
                f"store over {retention.max_bytes / 1024**2:g} MB ({used / 1024**2:.1f} MB)"
            )
    if fraction is not None:
        lo, hi = _seq_bounds(db, "readings")
        if lo is not None and hi is not None:
            rows = max(1, math.ceil((hi - lo + 1) * min(1.0, fraction)))
            before = report.evicted
            _evict_through(db, RecordKind.READINGS, "readings", lo + rows - 1, retention, report)
            if force_fraction is not None:
                report.reasons.append("disk full")
            if report.evicted > before:
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    if report.evicted:
        unsent = ", ".join(
            f"{n} not yet sent to {d}" for d, n in sorted(report.unsent_by_destination.items())
        )
        log.warning(
            "local store: evicted %d oldest record(s) (%s)%s",
            report.evicted,
            "; ".join(report.reasons),
            f"; {unsent}" if unsent else "",
        )
    return report


def _seq_bounds(db: sqlite3.Connection, table: str) -> tuple[int | None, int | None]:
    lo, hi = db.execute(f"SELECT MIN(seq), MAX(seq) FROM {table}").fetchone()
    return lo, hi


def _last_seq_before(db: sqlite3.Connection, table: str, cutoff: float) -> int | None:
    """The largest seq whose record (and every one before it, by binary search) is older than cutoff."""
    lo, hi = _seq_bounds(db, table)
    if lo is None or hi is None:
        return None
    first_ts = db.execute(f"SELECT ts FROM {table} WHERE seq=?", (lo,)).fetchone()[0]
    if first_ts >= cutoff:
        return None
    # Invariant: the record at or just after `lo` is old; search for the last old one.
    while lo < hi:
        mid = (lo + hi + 1) // 2
        row = db.execute(f"SELECT ts FROM {table} WHERE seq>=? ORDER BY seq LIMIT 1", (mid,)).fetchone()
        if row is not None and row[0] < cutoff:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _evict_through(
    db: sqlite3.Connection,
    kind: str,
    table: str,
    cut: int,
    retention: Retention,
    report: RetentionReport,
) -> None:
    """Delete records with seq <= cut, a step at a time; each step trims the forward queues in the
    same transaction, so a crash between steps leaves no queue entry without its records."""
    lo, _ = _seq_bounds(db, table)
    if lo is None or cut < lo:
        return
    step = retention.delete_rows_per_step
    # Bounded: each pass deletes up to `step` seqs and advances `lo` past them.
    while lo <= cut:
        upto = min(cut, lo + step - 1)
        with db:
            deleted = db.execute(f"DELETE FROM {table} WHERE seq BETWEEN ? AND ?", (lo, upto)).rowcount
            report.evicted += deleted
            if kind == RecordKind.READINGS:
                report.evicted_readings += deleted
            trim_queue(db, kind, table, upto, report)
        lo = upto + 1


def trim_queue(db: sqlite3.Connection, kind: str, table: str, cut: int, report: RetentionReport) -> None:
    """Drop queue segments whose records (seq <= cut) are gone, counting per destination the
    records that were never acknowledged there. Counts come from the rows themselves: seq has gaps
    (an ignored duplicate uses up a number)."""
    for dest, gone in db.execute(
        "SELECT destination, SUM(count) FROM forward_queue WHERE kind=? AND last_seq<=? GROUP BY destination",
        (kind, cut),
    ).fetchall():
        report.unsent_by_destination[dest] += int(gone)
    db.execute("DELETE FROM forward_queue WHERE kind=? AND last_seq<=?", (kind, cut))
    partial = db.execute(
        "SELECT id, destination, last_seq, count FROM forward_queue WHERE kind=? AND first_seq<=?",
        (kind, cut),
    ).fetchall()
    for segment, dest, last, count in partial:
        left = db.execute(
            f"SELECT COUNT(*) FROM {table} WHERE seq BETWEEN ? AND ?", (cut + 1, last)
        ).fetchone()[0]
        report.unsent_by_destination[dest] += max(0, int(count) - int(left))
        db.execute("UPDATE forward_queue SET first_seq=?, count=? WHERE id=?", (cut + 1, left, segment))


def trim_orphans(db: sqlite3.Connection, report: RetentionReport) -> None:
    """Queue segments below the oldest stored record (left by a crash in an older layout or a
    hand-edited file) are counted as evicted and dropped, so the queue depth tells the truth."""
    for kind, table in _TABLES.items():
        lo, _ = _seq_bounds(db, table)
        cut = (lo - 1) if lo is not None else last_seq(db, table)
        if cut > 0:
            with db:
                trim_queue(db, kind, table, cut, report)
