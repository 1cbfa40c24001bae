"""Streaming equals batch: the engine gives the same answer however the stream is cut and shuffled,
and that answer is the reference's."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from analytics.rewind import REWIND_AFTER
from tests.analytics.reference import (
    Fed,
    Site,
    Stream,
    by_time_then_binding,
    feed,
    feed_reference,
    random_cuts,
    random_site,
    random_stream,
)


def _taken(fed: Fed, stream: Stream) -> Counter[tuple[float, int, str, int]]:
    """The accepted readings as a multiset: a shuffle may pick either copy of a re-delivered one."""
    return Counter(
        (t, c, repr(v), q)
        for (t, c, v, q), ok in zip(stream.readings(), fed.accepted.tolist(), strict=True)
        if ok
    )


def _check_same(a: Fed, b: Fed, stream: Stream) -> None:
    assert by_time_then_binding(a.rows) == by_time_then_binding(b.rows)
    assert _taken(a, stream) == _taken(b, stream)
    np.testing.assert_array_equal(a.quality, b.quality)
    assert a.rejected == b.rejected


def _nondecreasing_ts(fed: Fed) -> bool:
    ts = [r[0] for r in fed.rows]
    return all(x <= y for x, y in itertools.pairwise(ts))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("dirty", [False, True], ids=["clean", "dirty"])
def test_whole_and_streamed_equal_reference(seed: int, dirty: bool) -> None:
    rng = np.random.default_rng(seed)
    n_channels = int(rng.integers(1, 8))
    site = random_site(rng, n_channels, n_rules=int(rng.integers(1, 5)))
    stream = random_stream(rng, n_channels, per_channel=int(rng.integers(50, 300)), dirty=dirty)

    expected = feed_reference(site.reference(), stream)
    whole = feed(site.engine(), stream, [(0, len(stream))], rng=None)
    shuffled_whole = feed(site.engine(), stream, [(0, len(stream))], rng=rng)
    one_by_one = feed(site.engine(), stream, [(i, i + 1) for i in range(len(stream))], rng=None)
    small = feed(site.engine(), stream, random_cuts(rng, len(stream), max_batch=5), rng=rng)
    large = feed(site.engine(), stream, random_cuts(rng, len(stream), max_batch=200), rng=rng)

    assert expected.rows, "the generated stream should raise some alarm"
    assert whole.rows == expected.rows  # one batch: exact order, not just the same set
    for unshuffled in (whole, one_by_one):
        np.testing.assert_array_equal(unshuffled.accepted, expected.accepted)
    for fed in (whole, shuffled_whole, one_by_one, small, large):
        _check_same(fed, expected, stream)
        assert _nondecreasing_ts(fed)


@pytest.mark.parametrize("seed", range(6))
def test_final_state_does_not_depend_on_batching(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    site = random_site(rng, 5, n_rules=3)
    stream = random_stream(rng, 5, per_channel=200, dirty=True)
    ref = site.reference()
    feed_reference(ref, stream)
    engines = [site.engine() for _ in range(3)]
    feed(engines[0], stream, [(0, len(stream))], rng=None)
    feed(engines[1], stream, random_cuts(rng, len(stream), max_batch=3), rng=rng)
    feed(engines[2], stream, random_cuts(rng, len(stream), max_batch=60), rng=rng)
    for engine in engines:
        assert engine.channel_grade().tolist() == ref.channel_grades()
        assert engine.thresholds.grade.tolist() == [ref.grade(b) for b in range(len(ref.bindings))]
        np.testing.assert_array_equal(engine.state.last_ts, np.array(ref.last_ts))
        np.testing.assert_array_equal(engine.state.last_value, engines[0].state.last_value)
        np.testing.assert_array_equal(engine.state.last_good_ts, engines[0].state.last_good_ts)
        np.testing.assert_array_equal(engine.state.readings, engines[0].state.readings)
        assert engine.rejected_total == ref.rejected


@pytest.mark.parametrize("seed", range(6))
def test_late_and_repeated_readings_change_nothing(seed: int) -> None:
    """Readings re-sent after newer ones (older or equal time, alarming values) are all rejected.

    At most REWIND_AFTER - 1 of one channel before that channel's next fresh reading: that many
    readings behind, in order among themselves, are a device clock that jumped back, and the channel
    rewinds to them (``test_engine_cases``: the clock-rewind tests).
    """
    rng = np.random.default_rng(200 + seed)
    n_channels = 4
    site = random_site(rng, n_channels, n_rules=3)
    clean = random_stream(rng, n_channels, per_channel=150, dirty=False)
    expected = feed_reference(site.reference(), clean)

    engine = site.engine()
    rows = []
    late_sent = 0
    cuts = random_cuts(rng, len(clean), max_batch=40)
    for k, (start, stop) in enumerate(cuts):
        sent = feed(engine, clean, [(start, stop)], rng=rng)
        rows += sent.rows
        assert sent.accepted[start:stop].all()
        if k + 1 == len(cuts):
            break
        # Re-send some readings already taken, at their own time or older, with values that would
        # raise red on any rule (9.75 and -9.75 are beyond every generated limit, inside the range).
        pick = rng.integers(0, stop, size=int(rng.integers(1, 6)))
        fresh_next = np.unique(clean.channel[cuts[k + 1][0] : cuts[k + 1][1]])
        pick = pick[np.isin(clean.channel[pick], fresh_next)]
        pick = pick[occurrence_rank_unsorted(clean.channel[pick]) < REWIND_AFTER - 1]
        if not len(pick):
            continue
        late = clean.take(pick)
        late.ts = late.ts - rng.integers(0, 3, size=len(pick))
        late.value = rng.choice([-9.75, 9.75], size=len(pick))
        newest = np.array([clean.ts[:stop][clean.channel[:stop] == c].max() for c in late.channel])
        assert (late.ts <= newest).all()
        result = engine.process(late.ts, late.channel, late.value, late.quality)
        assert not result.accepted.any()
        assert len(result.transitions) == 0
        assert sum(result.rejected.values()) == len(pick)
        assert set(result.rejected) <= {"out_of_order", "duplicate_time"}
        late_sent += len(pick)

    assert by_time_then_binding(rows) == expected.rows
    assert engine.rejected_total["out_of_order"] + engine.rejected_total["duplicate_time"] == late_sent


def test_shuffled_batch_is_taken_in_time_order() -> None:
    """A hand-made case the random tests also cover: one batch, one channel, readings reversed."""
    rng = np.random.default_rng(7)
    site = Site(np.array([-np.inf]), np.array([np.inf]), random_site(rng, 1, 1).specs)
    stream = Stream(
        np.arange(1.0, 41.0),
        np.zeros(40, dtype=np.int32),
        np.concatenate([np.linspace(0, 12, 20), np.linspace(12, -12, 20)]),
        np.zeros(40, dtype=np.uint8),
    )
    expected = feed_reference(site.reference(), stream)
    reversed_feed = feed(site.engine(), stream.take(np.arange(39, -1, -1)), [(0, 40)], rng=None)
    assert expected.rows
    assert reversed_feed.rows == expected.rows
    assert reversed_feed.rejected == Counter()


def occurrence_rank_unsorted(values: np.ndarray) -> np.ndarray:
    """How many earlier entries hold the same value, for each entry."""
    seen: Counter[int] = Counter()
    out = []
    for v in values.tolist():
        out.append(seen[v])
        seen[v] += 1
    return np.array(out, dtype=np.intp)
