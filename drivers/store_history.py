"""History of one channel from the local store: raw readings or time buckets, in plain SQL.

Synchronous on purpose: the runtime calls it in the store's worker thread with the store's own
connection, so it never blocks the event loop and never opens the file a second time.

Time range: ``start <= ts < end`` (epoch seconds UTC), so adjacent windows never share a reading.

Buckets are aligned to the epoch, not to ``start``: a reading at ``ts`` falls into the bucket that
starts at ``floor(ts / step) * step``, so the same step always gives the same bucket edges whatever
window is asked for. The first and last buckets may therefore be partly outside the window (only the
readings inside it are counted). Buckets without any reading are left out.

Too many buckets are refused (:class:`TooManyBucketsError`), never silently widened: a caller asking
for 1 s buckets over a month should learn that and choose, not get another step than it asked for.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass

from gateway.vocab import GatewayError, Quality

DEFAULT_MAX_POINTS = 5000


class UnknownChannelError(GatewayError, LookupError):
    """The store has no channel of that name."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        super().__init__(f"no channel {channel!r} in the local store")


class TooManyBucketsError(GatewayError, ValueError):
    """The window divided by the step gives more buckets than the caller allows."""

    def __init__(self, buckets: int, limit: int, min_step: float) -> None:
        self.buckets = buckets
        self.limit = limit
        self.min_step = min_step
        super().__init__(
            f"this window and step give {buckets} buckets, over the limit of {limit}; "
            f"use a step of at least {min_step:g} s or a shorter window"
        )


class NoStoreError(GatewayError, RuntimeError):
    """The gateway has no local store configured, so there is no history to read."""

    def __init__(self) -> None:
        super().__init__("no local store configured")


@dataclass(frozen=True, slots=True)
class BucketPoint:
    """One bucket: ``count`` usable readings (min/max/mean/last over them), ``bad`` unusable ones.

    ``min``, ``max``, ``mean`` and ``last`` are None when the bucket holds only bad readings.
    """

    ts: float  # bucket start, epoch seconds
    count: int
    bad: int
    min: float | None
    max: float | None
    mean: float | None
    last: float | None


@dataclass(frozen=True, slots=True)
class RawPoint:
    ts: float
    value: float | None  # None when the reading was unusable (NaN)
    quality: int  # Quality flags; >= Quality.BAD means unusable


@dataclass(frozen=True, slots=True)
class HistoryResult:
    channel: str
    start: float
    end: float
    step: float | None  # None: raw readings
    points: tuple[BucketPoint, ...] | tuple[RawPoint, ...]
    truncated: bool  # raw mode only: more readings in the window than max_points


# The WHERE clauses below are the index's (channel, ts) range scan; test_store_history checks the
# plan. The last usable value of a bucket is found again by its (channel, ts), unique in the index.
RAW_SQL = """
SELECT ts, value, quality
FROM readings
WHERE channel = :channel AND ts >= :start AND ts < :end
ORDER BY ts
LIMIT :limit
"""

BUCKET_SQL = """
WITH r AS (
    SELECT CAST((ts - :origin) / :step AS INTEGER) AS b,
           ts,
           CASE WHEN quality < :bad_from THEN value END AS v
    FROM readings
    WHERE channel = :channel AND ts >= :start AND ts < :end
), g AS (
    SELECT b,
           count(v) AS n,
           count(*) - count(v) AS bad,
           min(v) AS lo,
           max(v) AS hi,
           avg(v) AS mean,
           max(CASE WHEN v IS NOT NULL THEN ts END) AS last_ts
    FROM r
    GROUP BY b
)
SELECT g.b, g.n, g.bad, g.lo, g.hi, g.mean, x.value
FROM g
LEFT JOIN readings AS x ON x.channel = :channel AND x.ts = g.last_ts
ORDER BY g.b
"""


def channel_id(db: sqlite3.Connection, channel_name: str) -> int:
    row = db.execute("SELECT id FROM channels WHERE name = ?", (channel_name,)).fetchone()
    if row is None:
        raise UnknownChannelError(channel_name)
    return int(row[0])


def bucket_count(start: float, end: float, step: float) -> int:
    """How many epoch-aligned buckets of ``step`` seconds the window ``[start, end)`` touches."""
    origin = math.floor(start / step) * step
    return max(1, math.ceil((end - origin) / step))


def channel_history(
    db: sqlite3.Connection,
    channel_name: str,
    start: float,
    end: float,
    step: float | None,
    max_points: int = DEFAULT_MAX_POINTS,
) -> HistoryResult:
    """Readings of ``channel_name`` with ``start <= ts < end``: raw when ``step`` is None, else buckets.

    Raw mode returns the oldest ``max_points`` readings and ``truncated=True`` when there are more;
    ask again with ``start`` just after the last one returned to page on.
    Raises UnknownChannelError, TooManyBucketsError, or ValueError for a malformed window or step.
    """
    if not (math.isfinite(start) and math.isfinite(end)) or start >= end:
        raise ValueError(f"the window [{start}, {end}) is empty or not finite")
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, not {max_points}")
    if step is not None:
        if not (math.isfinite(step) and step > 0):
            raise ValueError(f"step must be a positive number of seconds, not {step}")
        buckets = bucket_count(start, end, step)
        if buckets > max_points:
            # The smallest step giving at most max_points buckets, allowing one for misalignment.
            min_step = (end - start) / (max_points - 1) if max_points > 1 else end - start
            raise TooManyBucketsError(buckets, max_points, min_step)
    channel = channel_id(db, channel_name)
    if step is None:
        rows = db.execute(
            RAW_SQL, {"channel": channel, "start": start, "end": end, "limit": max_points + 1}
        ).fetchall()
        raw = tuple(RawPoint(float(ts), value, int(quality)) for ts, value, quality in rows[:max_points])
        return HistoryResult(channel_name, start, end, None, raw, truncated=len(rows) > max_points)
    origin = math.floor(start / step) * step
    rows = db.execute(
        BUCKET_SQL,
        {
            "channel": channel,
            "start": start,
            "end": end,
            "origin": origin,
            "step": step,
            "bad_from": Quality.BAD,
        },
    ).fetchall()
    points = tuple(
        BucketPoint(float(origin + b * step), n, bad, lo, hi, mean, last)
        for b, n, bad, lo, hi, mean, last in rows
    )
    return HistoryResult(channel_name, start, end, step, points, truncated=False)
