"""A small site config and a running in-process gateway for integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt

from gateway.config import SiteConfig, parse_config
from gateway.runtime import Runtime
from tests.support import in_background

SITE_YAML = """
site: {{id: t1, timezone: Asia/Shanghai}}
mqtt: {{url: "{input_url}"}}
devices:
  - id: anemo1
    type: mqtt
    channels:
      wind_speed: {{unit: m/s, range: [0, 60]}}
rules:
  - id: wind_lifting
    type: threshold
    channels: [anemo1.wind_speed]
    upper: {{yellow: 10.0, orange: 12.0, red: 20.0}}
    hysteresis: 1.0
    min_hold_s: 0  # the tests follow clears reading by reading; the dwell is tested in tests/gateway/rules
sinks:
  - type: sqlite
    path: {db}
  - type: mqtt
    {uplink}
"""


def site_config(input_url: str, db: Path, uplink_url: str | None = None) -> SiteConfig:
    uplink = f'broker: "{uplink_url}"' if uplink_url else ""
    return parse_config(SITE_YAML.format(input_url=input_url, db=db, uplink=uplink))


@contextlib.asynccontextmanager
async def running(
    config: SiteConfig, base_dir: Path, clock: Callable[[], float] = time.time
) -> AsyncIterator[Runtime]:
    runtime = Runtime(config, base_dir=base_dir, clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(stop))
    try:
        yield runtime
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def reading(value: Any, ts: float | None = None) -> bytes:
    body: dict[str, Any] = {"values": {"wind_speed": value}}
    if ts is not None:
        body["ts"] = ts
    return json.dumps(body).encode()


async def next_event(messages: asyncio.Queue[dict[str, Any]], within_s: float) -> dict[str, Any]:
    return await asyncio.wait_for(messages.get(), within_s)


@contextlib.asynccontextmanager
async def collect(
    host: str, port: int, topic: str, identifier: str | None = None, clean: bool = True
) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """Subscribe to ``topic`` and put every JSON message into a queue."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    async with aiomqtt.Client(host, port, identifier=identifier, clean_session=clean) as client:
        await client.subscribe(topic, qos=1)

        async def pump() -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                queue.put_nowait(json.loads(message.payload))

        async with in_background(pump()):
            yield queue
