"""Sink workers: retry keeps the batch, a refusal drops it with a count, overflow drops the oldest."""

from __future__ import annotations

import asyncio
from types import TracebackType

import numpy as np

from analytics import Engine, ThresholdSpec
from gateway import pipeline as pipeline_module
from gateway.alarms.book import AlarmBook
from gateway.forward.sink_queue import SinkQueue
from gateway.pipeline import Pipeline, SinkWorker
from gateway.vocab import AlarmEvent, ReadingBatch, RetryableSinkError, SinkBatch, SinkRejectedError
from tests.support import eventually


class ScriptedSink:
    name = "scripted"

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.written: list[SinkBatch] = []
        self.calls = 0

    async def __aenter__(self) -> ScriptedSink:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def write(self, batch: SinkBatch) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        self.written.append(batch)


def one_channel_pipeline(sink: ScriptedSink) -> Pipeline:
    engine = Engine(
        np.array([0.0]),
        np.array([100.0]),
        [ThresholdSpec(0, np.array([0], dtype=np.int32), (10, 20, 30), (np.nan,) * 3, 1.0)],  # type: ignore[arg-type]
    )
    book = AlarmBook("s", ["a.x"], ["r"], ["mm"])
    return Pipeline(engine, book, [sink])


def batch(*values: float, start: float = 0.0) -> ReadingBatch:
    n = len(values)
    return ReadingBatch.from_lists([start + i for i in range(n)], [0] * n, list(values), [0] * n)


async def test_retryable_error_keeps_the_batch_until_written() -> None:
    sink = ScriptedSink([RetryableSinkError("scripted", "down")] * 3)
    pipe = one_channel_pipeline(sink)
    worker = pipe.workers[0]
    task = asyncio.create_task(worker.run())
    try:
        events = pipe.process(batch(5, 15))
        assert [e.state for e in events] == ["raised"]
        await eventually(lambda: sink.written, 10, "written after retries")
        assert sink.calls == 4 and worker.health.retries == 3
        assert sink.written[0].events == tuple(events)
        assert not worker.health.failing
    finally:
        task.cancel()


async def test_rejected_batch_is_dropped_and_counted() -> None:
    sink = ScriptedSink([SinkRejectedError("scripted", "400 bad line")])
    pipe = one_channel_pipeline(sink)
    worker = pipe.workers[0]
    task = asyncio.create_task(worker.run())
    try:
        pipe.process(batch(1))
        pipe.process(batch(2, start=10))
        await eventually(lambda: len(sink.written) == 1, 5, "second batch written")
        assert worker.health.rejected_batches == 1 and worker.health.last_error == "400 bad line"
        assert sink.written[0].readings.value.tolist() == [2.0]
    finally:
        task.cancel()


def test_full_queue_drops_oldest_and_counts(monkeypatch: object) -> None:
    async def scenario() -> None:
        worker = SinkWorker(ScriptedSink([]))
        worker.queue = SinkQueue(3)
        for i in range(5):
            worker.offer(SinkBatch(batch(float(i), start=i)))
        kept = [worker.queue.get_nowait().readings.value[0] for _ in range(3)]
        assert kept == [2.0, 3.0, 4.0]
        assert worker.health.dropped_batches == 2

    asyncio.run(scenario())
    assert pipeline_module.SINK_QUEUE_BATCHES > 3


def raise_event(ts: float) -> AlarmEvent:
    return AlarmEvent(
        site="s", ts=ts, channel="c.x", rule="r", grade=3, state="raised", value=9.0, limit=5.0,
        unit="", message="red", alarm_id=f"a{ts:g}",
    )  # fmt: skip


def test_full_queue_never_drops_a_batch_with_an_alarm_event() -> None:
    async def scenario() -> None:
        worker = SinkWorker(ScriptedSink([]))
        worker.queue = SinkQueue(3)
        # The oldest batch carries a raise: the readings-only batches behind it go instead.
        worker.offer(SinkBatch(batch(0.0), (raise_event(0.0),)))
        for i in range(1, 6):
            worker.offer(SinkBatch(batch(float(i), start=i)))
        kept = [worker.queue.get_nowait() for _ in range(worker.queue.qsize())]
        assert [b.readings.value[0] for b in kept] == [0.0, 4.0, 5.0]
        assert kept[0].events[0].alarm_id == "a0"
        assert worker.health.dropped_batches == 3
        # Every waiting batch holds an event: the new one is kept beyond the bound, and counted.
        for i in range(6, 9):
            worker.offer(SinkBatch(batch(float(i), start=i), (raise_event(float(i)),)))
        worker.offer(SinkBatch(batch(9.0, start=9)))
        events = [b.events[0].alarm_id for b in list(worker.queue._items) if b.events]
        assert events == ["a6", "a7", "a8"]
        assert worker.queue.qsize() == 4 and worker.queue.over_bound == 1
        assert worker.health.dropped_batches == 3

    asyncio.run(scenario())


async def test_drain_waits_for_sinks() -> None:
    sink = ScriptedSink([])
    pipe = one_channel_pipeline(sink)
    tasks = [asyncio.create_task(pipe.run()), asyncio.create_task(pipe.workers[0].run())]
    try:
        for i in range(10):
            await pipe.submit(batch(float(i), start=i))
        assert await pipe.drain(5)
        assert sum(len(b.readings) for b in sink.written) == 10
        assert pipe.stats.readings == 10
    finally:
        for t in tasks:
            t.cancel()
