"""Rounds (one reading per channel per round) and the channel index."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import UNKNOWN, ChannelIndex
from analytics.rounds import occurrence_rank, round_slices, time_then_channel_order


def ints(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int32)


def test_occurrence_rank_small() -> None:
    assert occurrence_rank(ints([])).tolist() == []
    assert occurrence_rank(ints([4])).tolist() == [0]
    assert occurrence_rank(ints([0, 0, 1, 2, 2, 2, 5])).tolist() == [0, 1, 0, 0, 1, 2, 0]
    assert occurrence_rank(ints([3, 3, 3])).tolist() == [0, 1, 2]


def test_round_slices_small() -> None:
    assert round_slices(np.zeros(0, dtype=np.intp)) == []
    rank = occurrence_rank(ints([0, 0, 1, 2, 2, 2, 5]))
    assert [r.tolist() for r in round_slices(rank)] == [[0, 2, 3, 6], [1, 4], [5]]
    assert [r.tolist() for r in round_slices(occurrence_rank(ints([1, 2, 3])))] == [[0, 1, 2]]


def test_time_then_channel_order_small() -> None:
    ts = np.array([3.0, 1.0, 2.0, 1.0, 1.0])
    ch = ints([1, 0, 0, 1, 1])
    # channel 0 by time (1, 2), then channel 1 by time (1, 1, 3), ties in input order
    assert time_then_channel_order(ts, ch).tolist() == [1, 2, 3, 4, 0]


@settings(deadline=None, max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 20)), max_size=60))
def test_rounds_partition_a_batch(pairs: list[tuple[int, int]]) -> None:
    """Every reading in exactly one round; one reading per channel per round; a channel's readings
    in time order across rounds."""
    ch = ints([c for c, _ in pairs])
    ts = np.array([t for _, t in pairs], dtype=np.float64)
    order = time_then_channel_order(ts, ch)
    s_ch, s_ts = ch[order], ts[order]
    rounds = round_slices(occurrence_rank(s_ch))
    seen = np.concatenate(rounds) if rounds else np.zeros(0, dtype=np.intp)
    assert sorted(seen.tolist()) == list(range(len(pairs)))
    last_ts: dict[int, float] = {}
    for k, pos in enumerate(rounds):
        assert len(pos) > 0
        assert len(set(s_ch[pos].tolist())) == len(pos)
        if k:  # a channel in round k was in round k - 1
            assert set(s_ch[pos].tolist()) <= set(s_ch[rounds[k - 1]].tolist())
        for c, t in zip(s_ch[pos].tolist(), s_ts[pos].tolist(), strict=True):
            assert t >= last_ts.get(c, -np.inf)
            last_ts[c] = t


def test_channel_index() -> None:
    index = ChannelIndex(["pit.a", "pit.b", "crane.load"])
    assert len(index) == 3
    assert index.ids == ("pit.a", "pit.b", "crane.load")
    assert index.column("pit.b") == 1
    assert index.column("nope") == UNKNOWN == -1
    assert "crane.load" in index
    assert "nope" not in index
    cols = index.columns(["crane.load", "nope", "pit.a"])
    assert cols.dtype == np.int32
    assert cols.tolist() == [2, -1, 0]
    assert index.columns([]).tolist() == []
    assert index.as_dict() == {"pit.a": 0, "pit.b": 1, "crane.load": 2}


def test_channel_index_as_dict_is_a_copy() -> None:
    index = ChannelIndex(["a"])
    index.as_dict()["b"] = 1
    assert index.column("b") == UNKNOWN


def test_channel_index_takes_any_iterable_once() -> None:
    index = ChannelIndex(c for c in ["x", "y"])
    assert index.ids == ("x", "y")
    assert len(ChannelIndex([])) == 0


def test_channel_index_refuses_duplicates() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        ChannelIndex(["a", "b", "a"])
