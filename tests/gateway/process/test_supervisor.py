from __future__ import annotations

import asyncio
import logging

import pytest

from drivers import Backoff
from gateway.process.supervisor import TaskHealth, cancel_and_wait, supervised


async def test_failing_task_is_restarted_and_logged_once_each(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    runs = 0
    finished = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 4:
            raise ConnectionError(f"boom {runs}")
        await asyncio.sleep(0.2)  # healthy long enough to count as recovered
        finished.set()

    health = TaskHealth("flaky")
    await asyncio.wait_for(
        supervised("flaky", flaky, health, Backoff(first=0.01, cap=0.02), healthy_after=0.1), 5
    )
    assert finished.is_set() and runs == 5
    assert health.restarts == 4 and not health.failing
    assert health.last_error == "ConnectionError: boom 4"
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    recoveries = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert len(recoveries) == 1 and "4 restarts" in recoveries[0].getMessage()


async def test_cancellation_ends_supervision() -> None:
    async def forever() -> None:
        await asyncio.sleep(3600)

    task = asyncio.create_task(supervised("f", forever, TaskHealth("f")))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_backoff_is_capped_and_jittered() -> None:
    rolls = iter([0.0, 1.0] * 20)
    backoff = Backoff(first=0.5, cap=4.0, rand=lambda: next(rolls))
    delays = [backoff.next_delay() for _ in range(8)]
    assert delays[:4] == [0.25, 1.0, 1.0, 4.0]
    assert max(delays) == 4.0 and min(delays[4:]) == 2.0
    backoff.reset()
    assert backoff.next_delay() == 0.25


async def test_a_task_whose_clean_up_waits_for_ever_is_cancelled_again() -> None:
    cleaned: list[str] = []

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        finally:  # as aiomqtt's exit does: wait for the broker's goodbye, with no timeout
            try:
                await asyncio.Event().wait()
            finally:
                cleaned.append("left")

    async def polite() -> None:
        await asyncio.Event().wait()

    tasks = [asyncio.create_task(stubborn(), name="mqtt-in"), asyncio.create_task(polite(), name="tick")]
    await asyncio.sleep(0)
    assert await cancel_and_wait(tasks, within_s=0.05) == ["mqtt-in"]
    assert all(t.done() for t in tasks) and cleaned == ["left"]


async def test_tasks_that_end_when_cancelled_need_nothing_more() -> None:
    tasks = [asyncio.create_task(asyncio.sleep(60), name=f"t{i}") for i in range(3)]
    await asyncio.sleep(0)
    assert await cancel_and_wait(tasks, within_s=0.05) == []
    assert all(t.cancelled() for t in tasks)
