"""channel_history on a real SQLite file, checked against the same computation done by numpy."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from drivers.store_history import (
    BUCKET_SQL,
    RAW_SQL,
    BucketPoint,
    HistoryResult,
    RawPoint,
    TooManyBucketsError,
    UnknownChannelError,
    bucket_count,
    channel_history,
)
from gateway.vocab import GatewayError, Quality
from tests.api.fake_runtime import Row, make_store

T0 = 1_699_999_200.0  # a whole hour, so buckets of up to 1 h start at T0
CH = "pit.P3.disp_h"
OTHER = "anemo1.wind_speed"


def buckets(result: HistoryResult) -> list[BucketPoint]:
    assert all(isinstance(p, BucketPoint) for p in result.points)
    return [p for p in result.points if isinstance(p, BucketPoint)]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    rows: list[Row] = [
        # bucket [T0, T0+60): two good, one NaN (NULL, bad_value), one out of range but stored, later
        (T0 + 1, CH, 1.0, Quality.GOOD),
        (T0 + 2, CH, 2.0, Quality.TIME_ESTIMATED),  # usable: only flags >= 0x10 are bad
        (T0 + 3, CH, None, Quality.BAD_VALUE),
        (T0 + 4, CH, 100.0, Quality.BAD_RANGE),
        # bucket [T0+60, T0+120): bad only, one of them a NULL without a bad flag
        (T0 + 61, CH, 5.0, Quality.BAD_COMM),
        (T0 + 62, CH, None, Quality.GOOD),
        # bucket [T0+180, T0+240): after an empty bucket
        (T0 + 180, CH, -3.0, Quality.GOOD),
        (T0 + 239.5, CH, -4.0, Quality.GOOD),
        # another channel, same times: never mixed in
        (T0 + 1, OTHER, 50.0, Quality.GOOD),
        (T0 + 180, OTHER, 50.0, Quality.GOOD),
    ]
    with closing(sqlite3.connect(make_store(tmp_path / "store.db", rows))) as conn:
        yield conn


def test_buckets_count_bad_readings_but_never_average_them(db: sqlite3.Connection) -> None:
    result = channel_history(db, CH, T0, T0 + 240, 60)
    assert result.step == 60 and result.truncated is False and result.channel == CH
    assert result.points == (
        BucketPoint(T0, count=2, bad=2, min=1.0, max=2.0, mean=1.5, last=2.0),
        BucketPoint(T0 + 60, count=0, bad=2, min=None, max=None, mean=None, last=None),
        BucketPoint(T0 + 180, count=2, bad=0, min=-4.0, max=-3.0, mean=-3.5, last=-4.0),
    )


def test_window_is_half_open_and_buckets_are_epoch_aligned(db: sqlite3.Connection) -> None:
    # start inside the first bucket: its start stays T0, only readings from start on are counted
    result = buckets(channel_history(db, CH, T0 + 2, T0 + 180, 60))
    assert [(p.ts, p.count, p.bad) for p in result] == [(T0, 1, 2), (T0 + 60, 0, 2)]
    assert result[0].last == 2.0  # the reading at exactly `end` (T0+180) is not in the window
    raw = channel_history(db, CH, T0 + 1, T0 + 180, None)
    assert raw.points[0].ts == T0 + 1 and raw.points[-1].ts == T0 + 62


def test_raw_readings_in_time_order_and_truncated(db: sqlite3.Connection) -> None:
    full = channel_history(db, CH, T0, T0 + 240, None)
    assert full.step is None and full.truncated is False
    assert full.points == (
        RawPoint(T0 + 1, 1.0, 0),
        RawPoint(T0 + 2, 2.0, 1),
        RawPoint(T0 + 3, None, 0x20),
        RawPoint(T0 + 4, 100.0, 0x40),
        RawPoint(T0 + 61, 5.0, 0x10),
        RawPoint(T0 + 62, None, 0),
        RawPoint(T0 + 180, -3.0, 0),
        RawPoint(T0 + 239.5, -4.0, 0),
    )
    cut = channel_history(db, CH, T0, T0 + 240, None, max_points=3)
    assert cut.truncated is True and cut.points == full.points[:3]  # the oldest, so one can page on
    exact = channel_history(db, CH, T0, T0 + 240, None, max_points=8)
    assert exact.truncated is False and len(exact.points) == 8


def test_unknown_channel_is_its_own_error(db: sqlite3.Connection) -> None:
    with pytest.raises(UnknownChannelError) as caught:
        channel_history(db, "pit.P9.disp_h", T0, T0 + 60, None)
    assert isinstance(caught.value, LookupError) and isinstance(caught.value, GatewayError)
    assert caught.value.channel == "pit.P9.disp_h" and "pit.P9.disp_h" in str(caught.value)
    # a channel registered but without readings is known: empty, not an error
    make_empty = db.execute("INSERT INTO channels(name) VALUES ('crane1.load')")
    assert make_empty.rowcount == 1
    assert channel_history(db, "crane1.load", T0, T0 + 60, 10).points == ()


def test_too_many_buckets_refused_with_a_step_that_fits(db: sqlite3.Connection) -> None:
    with pytest.raises(TooManyBucketsError) as caught:
        channel_history(db, CH, T0, T0 + 86400, 1, max_points=5000)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.buckets, error.limit) == (86400, 5000) and "5000" in str(error)
    # The suggested step fits, even for a window not aligned to it.
    for start, readings in ((T0, 8), (T0 + 0.3, 8), (T0 + 7, 4)):
        assert bucket_count(start, start + 86400, error.min_step) <= 5000
        fitting = channel_history(db, CH, start, start + 86400, error.min_step, max_points=5000)
        assert sum(p.count + p.bad for p in buckets(fitting)) == readings
    # exactly at the limit is allowed
    assert bucket_count(T0, T0 + 5000, 1) == 5000
    channel_history(db, CH, T0, T0 + 5000, 1, max_points=5000)


@pytest.mark.parametrize(
    ("start", "end", "step"),
    [
        (T0, T0, None),
        (T0 + 1, T0, 60),
        (T0, math.inf, 60),
        (T0, T0 + 60, 0),
        (T0, T0 + 60, -5),
        (T0, T0 + 60, math.nan),
    ],
)
def test_malformed_window_or_step_is_refused(
    db: sqlite3.Connection, start: float, end: float, step: float | None
) -> None:
    with pytest.raises(ValueError, match=r"window|step"):
        channel_history(db, CH, start, end, step)


def test_both_queries_search_the_channel_ts_index(db: sqlite3.Connection) -> None:
    params = {
        "channel": 1,
        "start": T0,
        "end": T0 + 60,
        "limit": 10,
        "origin": T0,
        "step": 10,
        "bad_from": 16,
    }
    for sql in (RAW_SQL, BUCKET_SQL):
        plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
        searches = [p for p in plan if "readings" in p or p.startswith("SEARCH x")]
        assert searches, plan
        assert not any(p.startswith("SCAN readings") or p.startswith("SCAN x") for p in plan), plan
        assert "SEARCH readings USING INDEX readings_channel_ts (channel=? AND ts>? AND ts<?)" in plan
    bucket_plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {BUCKET_SQL}", params)]
    # the last usable value is fetched by its exact key, not searched for
    assert any("USING INDEX readings_channel_ts (channel=? AND ts=?)" in p for p in bucket_plan), bucket_plan


def _reference(
    ts: npt.NDArray[np.float64],
    value: npt.NDArray[np.float64],
    quality: npt.NDArray[np.int64],
    start: float,
    end: float,
    step: float,
) -> list[tuple[float, int, int, float | None, float | None, float | None, float | None]]:
    inside = (ts >= start) & (ts < end)
    ts, value, quality = ts[inside], value[inside], quality[inside]
    usable = (quality < Quality.BAD) & ~np.isnan(value)
    bucket = np.floor(ts / step) * step
    out: list[tuple[float, int, int, float | None, float | None, float | None, float | None]] = []
    for b in np.unique(bucket):
        here = bucket == b
        good = here & usable
        v = value[good]
        if v.size:
            last = float(value[good][np.argmax(ts[good])])
            bad = int((here & ~usable).sum())
            out.append((float(b), int(v.size), bad, float(v.min()), float(v.max()), float(v.mean()), last))
        else:
            out.append((float(b), 0, int(here.sum()), None, None, None, None))
    return out


@pytest.mark.parametrize("step", [1.0, 60.0, 300.0, 3600.0])
def test_buckets_equal_numpy_on_the_same_data(tmp_path: Path, step: float) -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    ts = T0 + np.sort(rng.choice(4 * 3600 * 1000, size=n, replace=False)) / 1000.0  # unique, ms
    value = rng.normal(10.0, 3.0, n)
    quality = rng.choice([0, 0, 0, 0, 0, 0, 1, 0x10, 0x20, 0x40], size=n).astype(np.int64)
    value[quality == 0x20] = np.nan
    value[rng.random(n) < 0.01] = np.nan  # NULL with a usable flag still counts as bad
    other: list[Row] = [(float(t), OTHER, 1e6, 0) for t in ts[::7]]
    rows: list[Row] = [
        (float(t), CH, None if np.isnan(v) else float(v), int(q))
        for t, v, q in zip(ts, value, quality, strict=True)
    ]
    with closing(sqlite3.connect(make_store(tmp_path / "s.db", rows + other))) as db:
        start, end = T0 + 123.4, T0 + 3 * 3600 + 17.9  # not aligned to any step
        points = buckets(channel_history(db, CH, start, end, step, max_points=20_000))
    expected = _reference(ts, value, quality, start, end, step)
    assert len(points) == len(expected) > 0
    for point, (b, count, bad, lo, hi, mean, last) in zip(points, expected, strict=True):
        assert (point.ts, point.count, point.bad, point.min, point.max, point.last) == (
            b,
            count,
            bad,
            lo,
            hi,
            last,
        )
        if mean is None:
            assert point.mean is None
        else:
            # the same numbers summed in another order: equal to the last few bits
            assert point.mean == pytest.approx(mean, rel=1e-12, abs=1e-12)
    assert sum(p.count + p.bad for p in points) == int(((ts >= start) & (ts < end)).sum())
