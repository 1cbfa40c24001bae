"""Keep long-running tasks alive: a task that fails is restarted with capped, jittered backoff.

The failure is logged once (with its traceback) and the recovery once, however many restarts lie
between; the restart count is kept for health reports.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from drivers import Backoff

log = logging.getLogger(__name__)

# A restarted task that has run this long without failing again counts as recovered.
HEALTHY_AFTER_S = 5.0


@dataclass(slots=True)
class TaskHealth:
    name: str
    restarts: int = 0
    failing: bool = False
    last_error: str | None = None


async def supervised(
    name: str,
    run: Callable[[], Awaitable[None]],
    health: TaskHealth,
    backoff: Backoff | None = None,
    healthy_after: float = HEALTHY_AFTER_S,
) -> None:
    """Run ``run()`` until it returns; restart it whenever it raises. Cancellation ends it."""
    backoff = backoff or Backoff(first=0.5, cap=10.0)
    while True:
        started = time.monotonic()
        try:
            await _watch_recovery(run(), health, healthy_after)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            health.last_error = f"{type(exc).__name__}: {exc}"
            health.restarts += 1
            if time.monotonic() - started >= healthy_after:
                backoff.reset()
            if not health.failing:
                health.failing = True
                log.error("task %s failed; restarting it with backoff", name, exc_info=True)
            await asyncio.sleep(backoff.next_delay())


async def _watch_recovery(work: Awaitable[None], health: TaskHealth, healthy_after: float) -> None:
    if not health.failing:
        await work
        return
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=healthy_after)
        if not done:
            health.failing = False
            log.warning(
                "task %s recovered after %d restarts (last error: %s)",
                health.name,
                health.restarts,
                health.last_error,
            )
        await task
    finally:
        if not task.done():
            task.cancel()


async def cancel_and_wait(
    tasks: list[asyncio.Task[None]], within_s: float = 2.0, tries: int = 3
) -> list[str]:
    """Cancel the tasks and wait until they have ended. A task still running ``within_s`` after a
    cancellation is cancelled again, up to ``tries`` times: a library's own clean-up can wait on its
    peer for ever (aiomqtt's exit waits for the broker's goodbye without a timeout, and one in eight
    shutdowns hung on it), and a stop must not. Returns the names of the tasks that needed more."""
    for task in tasks:
        task.cancel()
    stubborn: list[str] = []
    pending = {t for t in tasks if not t.done()}
    for _ in range(tries):
        if not pending:
            break
        _, pending = await asyncio.wait(pending, timeout=within_s)
        for task in pending:
            stubborn.append(task.get_name())
            task.cancel()
    if stubborn:
        log.warning(
            "stopping: %s did not end when cancelled; cancelled again", ", ".join(sorted(set(stubborn)))
        )
    return stubborn
