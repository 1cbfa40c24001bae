"""Minimum dwell (analytics.hold): streamed in any cut, equal to the held grade computed from its
definition on the whole record (the highest grade over the last min_hold_s)."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.hold import TICK_GRACE_S, GradeHold
from analytics.table import TableResult, result


def _record(rng: np.random.Generator, bindings: int, readings: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per binding: reading times and the rule's grade at each (a jumpy walk over 0..3)."""
    out = []
    for _ in range(bindings):
        t = np.cumsum(rng.exponential(4.0, readings)) + 1000.0
        g = np.zeros(readings, dtype=np.int8)
        for i in range(1, readings):
            g[i] = (
                np.clip(g[i - 1] + rng.choice([-3, -1, 0, 0, 0, 1, 2]), 0, 3)
                if rng.random() < 0.4
                else g[i - 1]
            )
        out.append((t, g))
    return out


def _raw(record: list[tuple[np.ndarray, np.ndarray]], lo: float, hi: float) -> TableResult:
    """The rule's changes with lo <= time < hi; value = reading number, limit = 10 * grade."""
    rows, old, new, ts, value = [], [], [], [], []
    for b, (t, g) in enumerate(record):
        prev = np.r_[0, g[:-1]]
        at = np.flatnonzero((g != prev) & (t >= lo) & (t < hi))
        rows += [b] * len(at)
        old += prev[at].tolist()
        new += g[at].tolist()
        ts += t[at].tolist()
        value += at.astype(float).tolist()
    r = np.array(rows, dtype=np.intp)
    lim = np.where(np.array(new) > 0, 10.0 * np.array(new), 10.0)
    return result(r, np.array(old), np.array(new), np.array(ts), np.array(value), lim)


def _newest(record: list[tuple[np.ndarray, np.ndarray]], hi: float) -> np.ndarray:
    return np.array([t[t < hi].max() if (t < hi).any() else np.nan for t, _ in record])


def _reference(t: np.ndarray, g: np.ndarray, hold: float, horizon: float) -> list[tuple[float, int, int]]:
    """Held grade changes by definition: at time c the highest grade over (c - hold, c]."""
    prev = np.r_[0, g[:-1]]
    at = np.flatnonzero(g != prev)
    ct, cg = t[at], g[at]

    def raw_at(c: float) -> int:
        i = np.searchsorted(ct, c, side="right") - 1
        return int(cg[i]) if i >= 0 else 0

    def held(c: float) -> int:
        inside = cg[(ct > c - hold) & (ct <= c)]
        return max([raw_at(c - hold), *inside.tolist()]) if hold > 0 else raw_at(c)

    candidates = sorted({*ct.tolist(), *(ct + hold).tolist()})
    out, grade = [], 0
    for c in candidates:
        if c > horizon:
            break
        now = held(c)
        if now != grade:
            out.append((c, grade, now))
            grade = now
    return out


@pytest.mark.parametrize("seed", range(6))
def test_held_changes_equal_the_definition_in_any_cut(seed: int) -> None:
    rng = np.random.default_rng(seed)
    record = _record(rng, bindings=4, readings=400)
    holds = np.array([0.0, 5.0, 30.0, 60.0])
    end = max(t.max() for t, _ in record) + 1.0
    for cuts in (np.array([end]), [*np.sort(rng.uniform(1000.0, end, 25)).tolist(), end]):
        hold = GradeHold(np.arange(4, dtype=np.int32), holds)
        got: list[TableResult] = []
        lo = -np.inf
        for hi in np.atleast_1d(cuts):
            got.append(hold.apply(_raw(record, lo, hi), _newest(record, hi)))
            lo = hi
        out = TableResult.concat(got)
        for b, (t, g) in enumerate(record):
            mine = np.flatnonzero(out.row == b)
            expected = _reference(t, g, holds[b], float(t.max()))
            assert [(float(out.ts[i]), int(out.old_grade[i]), int(out.new_grade[i])) for i in mine] == [
                pytest.approx(e) for e in expected
            ], f"binding {b} (hold {holds[b]} s)"
            assert hold.grade[b] == (expected[-1][2] if expected else 0)


def test_a_flicker_around_a_limit_raises_once_and_clears_after_the_hold() -> None:
    # The rule flips 0 -> 2 -> 0 every 5 s for a minute, then stays at 0.
    ts = 100.0 + 5.0 * np.arange(13)
    new = np.where(np.arange(13) % 2 == 0, 2, 0).astype(np.int8)
    old = np.r_[0, new[:-1]].astype(np.int8)
    raw = result(np.zeros(13, dtype=np.intp), old, new, ts, np.arange(13.0), np.full(13, 7.0))
    hold = GradeHold(np.zeros(1, dtype=np.int32), np.array([60.0]))
    out = hold.apply(raw, np.array([ts[-1]]))
    assert out.new_grade.tolist() == [2]  # the clear waits: 60 s after the last fall not yet seen
    assert hold.grade.tolist() == [2] and hold.raw.tolist() == [2]
    # Readings of the channel go on at 0 (no change of the rule's grade) past the hold's end.
    out = hold.apply(TableResult.empty(), np.array([ts[-1] + 59.0]))
    assert len(out) == 0
    # (ts[-1] was a rise to 2; let the rule fall at ts[-1] + 1 and time pass.)
    fall = result(np.zeros(1, dtype=np.intp), np.array([2]), np.array([0]), np.array([ts[-1] + 1.0]),
                  np.array([1.5]), np.array([7.0]))  # fmt: skip
    assert len(hold.apply(fall, np.array([ts[-1] + 1.0]))) == 0
    out = hold.apply(TableResult.empty(), np.array([ts[-1] + 61.0]))
    assert (out.old_grade.tolist(), out.new_grade.tolist()) == ([2], [0])
    assert out.ts.tolist() == [ts[-1] + 61.0]  # the data time the hold ended
    assert out.value.tolist() == [1.5]  # the rule's newest judged value


def test_a_tick_releases_a_silent_channel_after_the_grace() -> None:
    hold = GradeHold(np.zeros(1, dtype=np.int32), np.array([60.0]))
    up = result(np.zeros(2, dtype=np.intp), np.array([0, 3]), np.array([3, 0]), np.array([10.0, 20.0]),
                np.array([5.0, 1.0]), np.array([4.0, 2.0]))  # fmt: skip
    assert hold.apply(up, np.array([20.0])).new_grade.tolist() == [3]
    # The engine's tick passes its time less the grace: a tick just before 80 + grace keeps it.
    assert len(hold.apply(TableResult.empty(), 80.0 + TICK_GRACE_S - 1.0 - TICK_GRACE_S)) == 0
    out = hold.apply(TableResult.empty(), 80.0 + TICK_GRACE_S - TICK_GRACE_S)
    assert (out.ts.tolist(), out.new_grade.tolist()) == ([80.0], [0])
    assert hold.grade.tolist() == [0] and not np.isfinite(hold.release).any()


def test_a_fall_to_a_held_lower_grade_names_that_grade_s_limit() -> None:
    hold = GradeHold(np.zeros(1, dtype=np.int32), np.array([30.0]))
    raw = result(
        np.zeros(3, dtype=np.intp),
        np.array([0, 1, 3]),
        np.array([1, 3, 0]),
        np.array([0.0, 10.0, 20.0]),
        np.array([1.0, 3.0, 0.5]),
        np.array([100.0, 300.0, 100.0]),  # yellow limit 100, red 300, cleared: yellow's
    )
    out = hold.apply(raw, np.array([100.0]))
    # Rises at 0 and 10; red held until 50, yellow (last reached at 20 too) until 50: one fall.
    assert list(zip(out.ts.tolist(), out.new_grade.tolist(), strict=True)) == [(0.0, 1), (10.0, 3), (50.0, 0)]
    assert out.limit.tolist() == [100.0, 300.0, 100.0]


def test_bad_holds_are_refused() -> None:
    with pytest.raises(ValueError, match="one value per binding"):
        GradeHold(np.zeros(2, dtype=np.int32), np.array([1.0]))
    with pytest.raises(ValueError, match="not negative"):
        GradeHold(np.zeros(1, dtype=np.int32), np.array([-1.0]))
