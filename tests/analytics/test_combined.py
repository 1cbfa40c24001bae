"""Combined rules: all conditions at once, as-of join across channels, stale and unusable data."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from analytics.combined import CombinedSpec, CombinedTable
from analytics.rounds import to_block
from analytics.table import TableResult
from tests.analytics.reference import random_cuts

F64 = npt.NDArray[np.float64]
BAD = 0x10
NAN = np.nan

# (ts, row, old, new, value, limit, upward)
Event = tuple[float, int, int, int, float, float, bool]


def spec(
    rule: int, conds: list[tuple[int, float, float]], grade: int = 2, max_age: float = 60.0
) -> CombinedSpec:
    cols, above, below = zip(*conds, strict=True)
    return CombinedSpec(
        rule, np.array(cols, dtype=np.int32), np.array(above, float), np.array(below, float), grade, max_age
    )


def run(table: CombinedTable, stream: tuple, cuts: list[tuple[int, int]], n_cols: int) -> list[Event]:
    parts = []
    for a, b in cuts:
        ts, ch, v, q = (x[a:b] for x in stream)
        parts.append(table.evaluate(to_block(ts, ch, v, q, n_cols)))
    return events(TableResult.concat(parts))


def events(res: TableResult) -> list[Event]:
    return [
        (float(res.ts[i]), int(res.row[i]), int(res.old_grade[i]), int(res.new_grade[i]),
         float(res.value[i]), float(res.limit[i]), bool(res.upward[i]))
        for i in range(len(res))
    ]  # fmt: skip


def stream_of(rows: list[tuple[float, int, float, int]]) -> tuple:
    ts, ch, v, q = (np.array(x) for x in zip(*rows, strict=True))
    order = np.lexsort((ch, ts))
    return (
        ts[order].astype(float),
        ch[order].astype(np.int32),
        v[order].astype(float),
        q[order].astype(np.uint8),
    )


def test_lifting_in_high_wind() -> None:
    # column 0: crane load (t), column 1: anemometer 2-min mean (m/s).
    table = CombinedTable([spec(4, [(0, 0.5, NAN), (1, 10.8, NAN)], grade=2, max_age=30.0)])
    stream = stream_of([
        (0.0, 1, 11.5, 0),   # windy, nothing lifted
        (1.0, 0, 0.2, 0),
        (2.0, 0, 2.0, 0),    # lifting in wind: raise
        (3.0, 1, 11.0, 0),
        (4.0, 1, 9.0, 0),    # the wind drops: clear
        (5.0, 1, 12.0, 0),   # up again while still lifting: raise
        (6.0, 0, 0.1, 0),    # set down: clear
    ])  # fmt: skip
    got = run(table, stream, [(0, len(stream[0]))], 2)
    assert [(e[0], e[2], e[3]) for e in got] == [(2.0, 0, 2), (4.0, 2, 0), (5.0, 0, 2), (6.0, 2, 0)]
    assert got[0][4:] == (2.0, 0.5, True)  # value and limit of the first condition
    assert table.channel.tolist() == [0] and table.rule.tolist() == [4]
    assert table.grade.tolist() == [0]


def test_stale_value_fails_its_condition() -> None:
    table = CombinedTable([spec(0, [(0, 0.5, NAN), (1, 10.8, NAN)], grade=3, max_age=10.0)])
    stream = stream_of([(0.0, 1, 12.0, 0), (5.0, 0, 2.0, 0), (10.0, 0, 2.0, 0), (10.5, 0, 2.0, 0)])
    got = run(table, stream, [(0, 1), (1, 4)], 2)
    # At 10 s the wind reading is exactly 10 s old (still fresh); at 10.5 s it is stale.
    assert [(e[0], e[2], e[3]) for e in got] == [(5.0, 0, 3), (10.5, 3, 0)]


def test_unusable_and_nan_readings_are_skipped() -> None:
    table = CombinedTable([spec(0, [(0, NAN, 5.0), (1, 10.0, NAN)])])  # load below 5 while wind above 10
    stream = stream_of([
        (0.0, 0, 1.0, 0),
        (1.0, 1, 15.0, 0),    # raise: both hold
        (2.0, 1, 3.0, BAD),   # a bad wind reading: the 15 m/s still counts
        (3.0, 1, NAN, 0),     # so does a NaN one
        (4.0, 0, 9.0, BAD),   # a bad load reading: ignored
        (5.0, 0, 9.0, 0),     # load no longer below 5: clear
    ])  # fmt: skip
    got = run(table, stream, [(0, 6)], 2)
    assert [(e[0], e[2], e[3]) for e in got] == [(1.0, 0, 2), (5.0, 2, 0)]
    assert got[0][5:] == (5.0, False)


def test_same_time_readings_give_one_answer() -> None:
    table = CombinedTable([spec(0, [(0, 0.5, NAN), (1, 10.0, NAN)])])
    stream = stream_of([(0.0, 0, 0.1, 0), (0.0, 1, 5.0, 0), (1.0, 0, 2.0, 0), (1.0, 1, 12.0, 0)])
    assert [(e[0], e[3]) for e in run(table, stream, [(0, 4)], 2)] == [(1.0, 2)]


def reference(specs: list[CombinedSpec], stream: tuple) -> list[Event]:
    """The definition, one reading at a time (readings in time order, no equal times)."""
    ts, ch, v, q = stream
    last: dict[int, tuple[float, float]] = {}
    grade = [0] * len(specs)
    out: list[Event] = []
    for i in range(len(ts)):
        c = int(ch[i])
        if q[i] < BAD and np.isfinite(v[i]):
            last[c] = (ts[i], v[i])
        for r, s in enumerate(specs):
            if c not in s.columns:
                continue
            holds = True
            for col, above, below in zip(s.columns, s.above, s.below, strict=True):
                t0, x = last.get(int(col), (NAN, NAN))
                ok = (
                    ts[i] - t0 <= s.max_age_s
                    and (np.isnan(above) or x > above)
                    and (np.isnan(below) or x < below)
                )
                holds = holds and bool(ok)
            new = s.grade if holds else 0
            if new != grade[r]:
                first = int(s.columns[0])
                value = last.get(first, (NAN, NAN))[1]  # newest usable, however old
                up = not np.isnan(s.above[0])
                out.append((ts[i], r, grade[r], new, value, s.above[0] if up else s.below[0], up))
                grade[r] = new
    return out


@pytest.mark.parametrize("seed", range(6))
def test_matches_reference_however_cut(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_cols = 5
    specs = [
        spec(0, [(0, 0.5, NAN), (1, 10.8, NAN)], grade=2, max_age=float(rng.uniform(3, 20))),
        # column 3 between 2 and 7: two conditions on one channel
        spec(1, [(2, NAN, 3.0), (1, 8.0, NAN), (3, 2.0, NAN), (3, NAN, 7.0)], grade=3, max_age=10.0),
        spec(2, [(1, 12.0, NAN)], grade=1, max_age=5.0),
    ]
    rows = []
    for c in range(n_cols):
        n = 250
        ts = np.cumsum(rng.exponential(4.0, n)) + rng.uniform(0, 1e-3)
        v = rng.uniform(0, 14, n)
        q = np.where(rng.random(n) < 0.1, BAD, 0)
        v[rng.random(n) < 0.05] = NAN
        rows += list(zip(ts, [c] * n, v, q, strict=True))
    stream = stream_of(rows)
    assert len(np.unique(stream[0])) == len(stream[0])
    expected = reference(specs, stream)
    assert len(expected) > 20
    n = len(stream[0])
    for max_batch in (n, 1, 6, 80):
        got = run(CombinedTable(specs), stream, random_cuts(rng, n, max_batch), n_cols)
        for r in range(len(specs)):
            times = [e[0] for e in got if e[1] == r]
            assert times == sorted(times)
        got.sort(key=lambda e: (e[1], e[0]))
        want = sorted(expected, key=lambda e: (e[1], e[0]))
        assert [e[:4] for e in got] == [e[:4] for e in want]
        np.testing.assert_allclose([e[4:6] for e in got], [e[4:6] for e in want], equal_nan=True)


def test_spec_checks() -> None:
    with pytest.raises(ValueError):
        CombinedTable([spec(0, [(0, 1.0, 2.0)])])
    with pytest.raises(ValueError):
        CombinedTable([spec(0, [(0, NAN, NAN)])])
    assert len(CombinedTable([]).evaluate(to_block(np.zeros(1), np.zeros(1, np.int32), np.ones(1),
                                                   np.zeros(1, np.uint8), 1))) == 0  # fmt: skip
