"""The live feed on its own: decimation against a per-reading reference, the newest good readings,
resuming, and a client that does not read."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.live import LiveFeed, Rounding
from gateway.live.feed import CLIENT_QUEUE, snap_rate
from gateway.live.rounding import decimals_of
from gateway.vocab import Quality, ReadingBatch, SinkBatch

IDS = ["a.x", "a.y", "b.x"]


def make_feed(**kwargs: int) -> LiveFeed:
    return LiveFeed(IDS, Rounding({"a.x": 0.1, "a.y": 0.25, "b.x": None}), **kwargs)


def reference(ts: np.ndarray, ch: np.ndarray, interval: float) -> list[tuple[int, float]]:
    """One reading at a time: a channel's reading goes out when it is an interval after the last sent."""
    last: dict[int, float] = {}
    out = []
    for t, c in sorted(zip(ts.tolist(), ch.tolist(), strict=True), key=lambda x: x[0]):
        if t - last.get(c, -np.inf) >= interval * 0.99:
            last[c] = t
            out.append((c, t))
    return out


@pytest.mark.parametrize("rate", [0.5, 1.0, 10.0])
async def test_decimation_fed_one_reading_at_a_time_matches_the_reference(rate: float) -> None:
    rng = np.random.default_rng(7)
    ts = np.sort(rng.uniform(0, 60, 600)) + 1.8e9
    ch = rng.integers(0, 3, 600).astype(np.int32)
    feed = make_feed(client_queue=10_000)
    async with feed:
        sub = feed.subscribe(rate)
        for t, c in zip(ts, ch, strict=True):
            feed.take(SinkBatch(ReadingBatch.from_lists([float(t)], [int(c)], [1.0], [0])))
        got = []
        while not sub.queue.empty():
            event = sub.queue.get_nowait()
            assert event is not None and event.kind == "readings"
            got.append(event)
    assert len(got) == len(reference(ts, ch, 1 / rate))


async def test_values_are_rounded_and_the_newest_good_reading_is_kept() -> None:
    feed = make_feed()
    feed.take(
        SinkBatch(
            ReadingBatch.from_lists(
                [1.0, 2.0, 2.0], [0, 0, 1], [1.2345, 9.9, 3.13], [0, Quality.BAD_RANGE, 0]
            )
        )
    )
    assert feed.latest.good_value[0] == 1.2345 and feed.latest.good_ts[0] == 1.0
    assert feed.latest.ts[0] == 2.0 and feed.latest.quality[0] == Quality.BAD_RANGE
    assert feed.rounding.column(1, 3.13) == 3.25 and feed.rounding.value("a.x", 1.2345) == 1.2
    assert feed.rounding.value("b.x", 1.2345) == 1.2345  # no resolution: as it came
    assert [decimals_of(r) for r in (0.25, 0.1, 5.0, 1e-3)] == [2, 1, 0, 3]


async def test_resuming_gets_exactly_what_was_missed_or_a_reset() -> None:
    feed = make_feed(history=100, client_queue=50)
    async with feed:
        first = feed.publish("cycle", {"n": 0})
        for n in range(1, 5):
            feed.publish("cycle", {"n": n})
        sub = feed.subscribe(last_event_id=first.id)
        assert [sub.queue.get_nowait().kind for _ in range(4)] == ["cycle"] * 4  # type: ignore[union-attr]
        for n in range(60):  # more than a client's queue: a reset, never a silent gap
            feed.publish("cycle", {"n": n})
        again = feed.subscribe(last_event_id=first.id)
        (only,) = [again.queue.get_nowait() for _ in range(again.queue.qsize())]
        assert only is not None and only.kind == "reset" and b"too_old" in only.wire


async def test_a_client_that_does_not_read_is_dropped_and_the_others_go_on() -> None:
    feed = make_feed(client_queue=10)
    cut: list[bool] = []
    async with feed:
        stuck, reader = feed.subscribe(), feed.subscribe()
        stuck.on_drop = lambda: cut.append(True)
        for n in range(30):
            feed.publish("cycle", {"n": n})
            while not reader.queue.empty():
                reader.queue.get_nowait()
        assert stuck.dropped and cut == [True] and feed.dropped_clients == 1
        assert feed.clients == 1 and not reader.dropped
        assert stuck.queue.get_nowait() is None  # its reader ends at once
    assert reader.queue.get_nowait() is None  # closing the feed ends every client


async def test_a_closed_feed_takes_data_but_no_clients() -> None:
    feed = make_feed()
    with pytest.raises(LookupError):
        feed.subscribe()
    await feed.write(SinkBatch(ReadingBatch.from_lists([1.0], [2], [4.0], [0])))
    assert feed.latest.good_value[2] == 4.0
    assert [snap_rate(r) for r in (0.05, 3.0, 10.0, 99.0)] == [0.1, 2.0, 10.0, 10.0]
    assert CLIENT_QUEUE >= 100
