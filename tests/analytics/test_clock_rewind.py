"""A channel whose device clock jumped back recovers by itself instead of rejecting every reading."""

from __future__ import annotations

import numpy as np
import pytest

from analytics import Engine
from analytics.rewind import REWIND_AFTER
from tests.analytics.reference import Row, rows_of
from tests.analytics.test_engine_cases import engine, run, spec

LIMITS = (6.4, 6.8, 8.0)  # formwork settlement, mm


def one_by_one(
    e: Engine, ts: list[float], values: list[float], channels: list[int] | None = None
) -> tuple[list[bool], list[Row], dict[str, int]]:
    """Feed readings one batch each (the live MQTT path); the accepted flags and rows, in order."""
    accepted: list[bool] = []
    rows: list[Row] = []
    rejected: dict[str, int] = {}
    for i, (t, v) in enumerate(zip(ts, values, strict=True)):
        ch = [channels[i]] if channels is not None else None
        result = run(e, [t], [v], channels=ch)
        accepted += result.accepted.tolist()
        rows += rows_of(result.transitions)
        for key, n in result.rejected.items():
            rejected[key] = rejected.get(key, 0) + n
    return accepted, rows, rejected


def test_clock_set_back_an_hour_rewinds_after_three_readings_and_alarms_on_the_new_time_line() -> None:
    e = engine([spec([0], upper=LIMITS)])
    # 1 Hz up to t = 5000, then the device's clock is set back an hour; settlement keeps rising.
    before = [float(t) for t in range(4990, 5001)]
    accepted, _, _ = one_by_one(e, before, [0.0] * len(before))
    assert all(accepted)
    after = [1401.0 + i for i in range(26)]
    values = [round(0.4 * i, 1) for i in range(26)]
    accepted, rows, rejected = one_by_one(e, after, values)
    assert accepted == [False] * (REWIND_AFTER - 1) + [True] * (26 - REWIND_AFTER + 1)
    assert rejected == {"out_of_order": REWIND_AFTER - 1, "rewound": 1}
    assert [(r[0], r[3]) for r in rows] == [(1417.0, 1), (1418.0, 2), (1421.0, 3)]
    assert e.state.last_ts.tolist() == [1426.0]
    assert e.rejected_total["rewound"] == 1


def test_a_jump_ahead_then_back_both_ways() -> None:
    """Forward (one reading far ahead is taken: the core has no clock), then back on the right time."""
    e = engine([spec([0], upper=LIMITS)])
    ts = [100.0, 101.0, 3701.0, 102.0, 103.0, 104.0, 105.0, 106.0]
    accepted, _, rejected = one_by_one(e, ts, [1.0] * len(ts))
    assert accepted == [True, True, True, False, False, True, True, True]
    assert rejected == {"out_of_order": 2, "rewound": 1}


def test_two_behind_then_one_on_time_is_no_rewind_and_starts_the_run_again() -> None:
    e = engine([spec([0], upper=LIMITS)])
    ts = [100.0, 50.0, 51.0, 101.0, 52.0, 53.0, 102.0, 54.0]
    accepted, _, rejected = one_by_one(e, ts, [1.0] * len(ts))
    assert accepted == [True, False, False, True, False, False, True, False]
    assert rejected == {"out_of_order": 5}


def test_readings_behind_but_not_in_order_among_themselves_never_rewind() -> None:
    e = engine([spec([0], upper=LIMITS)])
    ts = [100.0, 60.0, 50.0, 40.0, 55.0, 45.0, 45.0, 30.0]
    accepted, _, rejected = one_by_one(e, ts, [1.0] * len(ts))
    assert accepted == [True] + [False] * 7
    assert rejected == {"out_of_order": 7}


def test_repeats_of_a_stale_time_do_not_count_toward_a_rewind() -> None:
    e = engine([spec([0], upper=LIMITS)])
    run(e, [100.0], [1.0])
    result = run(e, [50.0, 50.0, 50.0, 51.0], [1.0] * 4)
    assert result.accepted.tolist() == [False, False, False, False]
    assert result.rejected == {"out_of_order": 4}
    result = run(e, [52.0], [1.0])  # the third distinct time in order: the rewind
    assert result.accepted.tolist() == [True] and result.rejected == {"rewound": 1}


@pytest.mark.parametrize("cut", [1, 2, 4, 5, 10, 20])
def test_the_rewind_does_not_depend_on_how_the_stream_is_cut(cut: int) -> None:
    """Two channels, one of them set back; the other keeps time. The same result however the readings
    behind are batched (a batch is taken by time, so one that holds both time lines of a channel is
    another stream: its reading on the old line ends the run)."""
    ts = [float(t) for t in range(1000, 1010)] + [float(t) for t in range(400, 420)]
    ch0 = list(zip(ts, [0] * len(ts), [round(0.4 * i, 1) for i in range(len(ts))], strict=True))
    ch1 = [(1000.0 + i, 1, 0.1 * i) for i in range(len(ts))]
    stream = [r for pair in zip(ch0, ch1, strict=True) for r in pair]
    e = engine([spec([0, 1], upper=LIMITS)], n=2)
    accepted: list[bool] = []
    rows: list[Row] = []
    rejected: dict[str, int] = {}
    for start in range(0, len(stream), cut):
        part = stream[start : start + cut]
        result = run(e, [r[0] for r in part], [r[2] for r in part], channels=[r[1] for r in part])
        accepted += result.accepted.tolist()
        rows += rows_of(result.transitions)
        for key, n in result.rejected.items():
            rejected[key] = rejected.get(key, 0) + n
    assert rejected == {"out_of_order": 2, "rewound": 1}
    assert accepted[::2] == [True] * 10 + [False, False] + [True] * 18
    assert all(accepted[1::2])
    assert sorted((r[0], r[2], r[3]) for r in rows) == [(406.0, 0, 1), (407.0, 1, 2), (410.0, 2, 3)]
    assert np.array_equal(e.state.last_ts, [419.0, 1029.0])


def test_many_channels_rewind_in_one_vectorised_pass() -> None:
    n = 200
    e = engine([spec(list(range(n)), upper=LIMITS)], n=n)
    cols = np.arange(n, dtype=np.int32)
    run(e, [1000.0] * n, [0.0] * n, channels=cols.tolist())
    # Every other channel set back: three readings each behind, in one batch.
    back = cols[::2]
    ts = np.concatenate([np.full(len(back), 10.0), np.full(len(back), 11.0), np.full(len(back), 12.0)])
    chs = np.tile(back, 3)
    result = run(e, ts.tolist(), [9.0] * len(ts), channels=chs.tolist())
    assert result.rejected == {"out_of_order": 2 * len(back), "rewound": len(back)}
    assert result.accepted.sum() == len(back)
    assert np.array_equal(e.state.last_ts[back], np.full(len(back), 12.0))
    assert np.array_equal(e.state.last_ts[1::2], np.full(n // 2, 1000.0))
    assert len(result.transitions) == len(back)  # the 9 mm on the new time line is red
