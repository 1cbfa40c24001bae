"""A gateway in-process on a site's stores, that can be stopped and built again on the same files.

``started`` opens the stores and the desk and resumes as ``Runtime.run`` does, and runs the workers
that store readings and apply events (the MQTT input is not started: readings are fed directly).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from pathlib import Path

import numpy as np

from gateway.config import SiteConfig, parse_config
from gateway.runtime import Runtime
from gateway.vocab import AlarmEvent, ReadingBatch

SITE = """
site: {{id: r1, timezone: Asia/Shanghai}}
mqtt: {{url: "mqtt://127.0.0.1:9"}}
devices:
  - id: pit
    type: mqtt
    channels:
      settle: {{unit: mm, range: [-500, 500]}}
      wall: {{unit: mm, range: [-500, 500]}}
      tilt: {{unit: mm, range: [-500, 500]}}
rules:
  - id: settlement
    type: cumulative
    channels: [pit.settle]
    upper: {{yellow: 5, orange: 8, red: 10}}
    hysteresis: 0.5
    min_hold_s: 0  # these tests follow clears reading by reading (the dwell is tested on its own)
  - id: wall_limit
    type: threshold
    channels: [pit.wall]
    upper: {{yellow: 10, red: 20}}
    hysteresis: 1
    min_hold_s: 0
  - id: tilt_rate
    type: rate
    channels: [pit.tilt]
    window_s: 3600
    per: hour
    upper: {{yellow: 2, orange: 4, red: 6}}
    min_hold_s: 0
sinks:
{sinks}
"""

SETTLE, WALL, TILT = 0, 1, 2


def site(store: bool = True) -> SiteConfig:
    return parse_config(SITE.format(sinks="  - {type: sqlite, path: gw.db}" if store else "  []"))


@contextlib.asynccontextmanager
async def started(config: SiteConfig, base: Path) -> AsyncIterator[Runtime]:
    runtime = Runtime(config, base_dir=base)
    async with AsyncExitStack() as stack:
        if runtime.forwarding is not None:
            await runtime.forwarding.enter(stack)
        await stack.enter_async_context(runtime.desk)
        await runtime.resume()
        runs = [w.run for w in runtime.pipeline.workers] + [runtime.baselines.run]
        if runtime.forwarding is not None:
            runs.append(runtime.forwarding.writer.run)
        tasks = [asyncio.create_task(run()) for run in runs]
        try:
            yield runtime
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def feed(
    runtime: Runtime, ts: Sequence[float], channel: Sequence[int], value: Sequence[float]
) -> list[AlarmEvent]:
    """Judge readings, then wait until they are stored and their events are on the desk."""
    batch = ReadingBatch.from_lists(list(ts), list(channel), list(value), [0] * len(ts))
    events = runtime.pipeline.process(batch)
    assert await runtime.pipeline.drain(10.0)
    assert await runtime.baselines.flush()
    return events


def rising_tilt(hours: float, start: float, every_s: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """A rising trend that keeps accelerating: the rate (mm/h) grows by 1 mm/h each hour, with noise."""
    t = np.arange(0.0, hours * 3600.0, every_s)
    noise = np.random.default_rng(7).normal(0.0, 0.02, len(t))
    return start + t, 0.5 * (t / 3600.0) ** 2 + noise


def active_records(runtime: Runtime, rule: str) -> list[str]:
    return [r.id for r in runtime.desk.records.values() if r.rule == rule and r.active]
