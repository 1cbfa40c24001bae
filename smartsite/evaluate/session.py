"""Evaluate scenarios: run each through a fresh gateway and score it."""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from smartsite.evaluate.evaluation import EvaluationError, run_frames
from smartsite.evaluate.scenario_plan import Plan, load_plan
from smartsite.evaluate.score import ScenarioScore, score
from smartsite.replay.kpi import kpis_of_events


async def evaluate_plan(plan: Plan, speed: float = math.inf, batch_s: float | None = None) -> ScenarioScore:
    """Run one plan through a fresh gateway; a run that cannot finish scores as an error.

    ``batch_s``: scenario seconds of readings per MQTT message (see :mod:`smartsite.evaluate.evaluation`);
    None picks it by the run's length, 0 sends one message per reading.
    """
    started = time.monotonic()
    try:
        result = await run_frames(
            plan.site,
            plan.frames(),
            start_ts=plan.start_ts,
            end_ts=plan.start_ts + plan.duration_s,
            speed=speed,
            batch_s=batch_s,
            warnings=plan.warnings,
        )
    except EvaluationError as exc:
        out = score(plan.name, [], plan.expectations, plan.allowances, plan.start_ts)
        out.error = str(exc)
        out.wall_s = time.monotonic() - started
        return out
    out = score(plan.name, result.events, plan.expectations, plan.allowances, plan.start_ts)
    out.kpis = kpis_of_events(result.events, plan.start_ts, plan.start_ts + plan.duration_s)
    out.frames = result.play.frames
    out.readings = result.readings
    out.wall_s = result.wall_s
    return out


async def evaluate_async(
    scenario: str | Path, speed: float = math.inf, batch_s: float | None = None
) -> ScenarioScore:
    return await evaluate_plan(load_plan(scenario), speed, batch_s)


def evaluate(scenario: str | Path, speed: float = math.inf, batch_s: float | None = None) -> ScenarioScore:
    """Run the scenario (a shipped name or a YAML path) through a real gateway and score it.

    ``speed``: scenario seconds per wall second; infinity (or 0) publishes as fast as the gateway
    takes the readings.
    """
    return asyncio.run(evaluate_async(scenario, speed, batch_s))


def _evaluate_in_worker(
    scenario: str | Path, speed: float, batch_s: float | None, log_level: int
) -> ScenarioScore:
    logging.getLogger().setLevel(log_level)
    return evaluate(scenario, speed, batch_s)


def evaluate_many(
    scenarios: Sequence[str | Path],
    speed: float = math.inf,
    batch_s: float | None = None,
    jobs: int = 1,
) -> list[ScenarioScore]:
    """Each scenario through its own gateway; ``jobs`` > 1 runs that many at once, each in its own
    process (a run keeps one core busy). Scores come back in the order asked."""
    scenarios = list(scenarios)
    if jobs <= 1 or len(scenarios) <= 1:

        async def all_of() -> list[ScenarioScore]:
            return [await evaluate_async(s, speed, batch_s) for s in scenarios]

        return asyncio.run(all_of())
    level = logging.getLogger().getEffectiveLevel()
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads and a loop
    with ProcessPoolExecutor(max_workers=min(jobs, len(scenarios)), mp_context=context) as pool:
        # The longest runs first, so they do not end up last on a busy worker.
        order = sorted(range(len(scenarios)), key=lambda i: -_cost(scenarios[i]))
        futures = {i: pool.submit(_evaluate_in_worker, scenarios[i], speed, batch_s, level) for i in order}
        return [futures[i].result() for i in range(len(scenarios))]


def _cost(scenario: str | Path) -> float:
    """A rough cost for ordering: the run's length in scenario seconds (0 if it cannot be read)."""
    try:
        return load_plan(scenario).duration_s
    except Exception:  # the worker reports what is wrong with it
        return 0.0


__all__ = ["evaluate", "evaluate_async", "evaluate_many", "evaluate_plan"]
