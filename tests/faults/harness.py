"""Fault tests' pieces: a real gateway process, a sensor load on a real broker, a platform consumer.

Durations scale with ``SMARTSITE_FAULT_SCALE`` (the test command sets it: 0.25 in CI), never below
``MIN_OUTAGE_S``, which still crosses an outage: the gateway's publishes fail, it backs off and
retries several times before the far side is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiomqtt
import httpx

from tests.support import free_port, project_root, smartsite_command

MIN_OUTAGE_S = 10.0
DEVICES = 10
QUANTITIES = 10  # 10 devices x 10 quantities = 100 readings per round


def fault_scale() -> float:
    return float(os.environ.get("SMARTSITE_FAULT_SCALE", "1.0"))


def scaled(seconds: float, floor: float = MIN_OUTAGE_S) -> float:
    return max(floor, seconds * fault_scale())


def site_yaml(
    sensor_port: int,
    api_port: int,
    db: Path,
    platform_port: int | None = None,
    influx_url: str | None = None,
    retention: str = "",
) -> str:
    devices = "\n".join(
        f"  - id: s{d}\n    type: mqtt\n    channels: {{"
        + ", ".join(f"q{q}: {{unit: mm}}" for q in range(QUANTITIES))
        + "}"
        for d in range(DEVICES)
    )
    sinks = [f"  - type: sqlite\n    path: {db}\n{retention}"]
    if platform_port is not None:
        sinks.append(f"  - type: mqtt\n    broker: mqtt://127.0.0.1:{platform_port}\n    backlog_rate: 20000")
    if influx_url is not None:
        sinks.append(f"  - type: influxdb\n    url: {influx_url}\n    backlog_rate: 50000")
    return f"""
site: {{id: f1}}
mqtt: {{url: "mqtt://127.0.0.1:{sensor_port}", client_id: f1-gateway-in}}
devices:
{devices}
rules:
  - id: s0_q0_high
    type: threshold
    channels: [s0.q0]
    upper: {{yellow: 10.0}}
    hysteresis: 1.0
    min_hold_s: 0  # the load crosses the limit every 2 s to make alarm events to forward
sinks:
{chr(10).join(sinks)}
api: {{port: {api_port}}}
"""


class GatewayProcess:
    """``smartsite run`` in its own process, killed and restarted at will."""

    def __init__(self, folder: Path, config_text: str, api_port: int) -> None:
        self.folder = folder
        self.config = folder / "site.yaml"
        self.config.write_text(config_text)
        self.api_port = api_port
        self.log = folder / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [*smartsite_command(), "run", "--config", str(self.config)],
            cwd=self.folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(project_root())},
        )
        out.close()

    async def health(self) -> dict[str, Any] | None:
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                answer = await client.get(f"http://127.0.0.1:{self.api_port}/api/v1/health")
        except httpx.HTTPError:
            return None
        return answer.json() if answer.status_code == 200 else None

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        self.proc = None
        return code

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@dataclass
class SensorLoad:
    """Ten devices publishing 100 readings per round over QoS 1; remembers what the broker took."""

    port: int
    rounds_per_s: float = 10.0  # 1,000 readings/s
    acknowledged: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    rounds: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def value(self, device: int, quantity: int, round_no: int) -> float:
        if device == 0 and quantity == 0:
            return 15.0 if (round_no // 20) % 2 else 5.0  # crosses the alarm limit every 2 s
        return round(round_no * 0.001 + device + quantity / 10, 6)

    async def run(self, duration_s: float) -> None:
        start = time.time()
        async with aiomqtt.Client("127.0.0.1", self.port, identifier="fault-sensors") as client:
            # Bounded by the duration; each round waits for its PUBACKs before it counts.
            while not self._stop.is_set() and time.time() - start < duration_s:
                due = start + self.rounds / self.rounds_per_s
                await asyncio.sleep(max(0.0, due - time.time()))
                ts = round(start + self.rounds / self.rounds_per_s, 3)
                publishes = []
                for d in range(DEVICES):
                    values = {f"q{q}": self.value(d, q, self.rounds) for q in range(QUANTITIES)}
                    body = json.dumps({"ts": ts, "values": values})
                    publishes.append(client.publish(f"smartsite/f1/devices/s{d}/up", body, qos=1, timeout=30))
                await asyncio.gather(*publishes)
                for d in range(DEVICES):
                    for q in range(QUANTITIES):
                        self.acknowledged[f"s{d}.q{q}"].append(ts)
                self.rounds += 1

    def stop(self) -> None:
        self._stop.set()

    def total(self) -> int:
        return sum(len(v) for v in self.acknowledged.values())


@dataclass
class PlatformConsumer:
    """The platform's side: a persistent QoS 1 session that reconnects, keeping every message."""

    port: int
    readings: list[tuple[str, float, int, bool]] = field(default_factory=list)  # channel, ts ms, seq, live
    alarms: list[dict[str, Any]] = field(default_factory=list)
    messages: int = 0
    subscribed: bool = False

    async def run(self) -> None:
        while True:  # reconnects until cancelled; each attempt is bounded by the broker's answer
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", self.port, identifier="fault-platform", clean_session=False
                ) as client:
                    await client.subscribe("smartsite/f1/telemetry", qos=1)
                    await client.subscribe("smartsite/f1/alarms", qos=1)
                    self.subscribed = True
                    async for message in client.messages:
                        self._take(str(message.topic), message.payload)
            except aiomqtt.MqttError:
                await asyncio.sleep(0.5)

    def _take(self, topic: str, payload: object) -> None:
        assert isinstance(payload, bytes)
        body = json.loads(payload)
        self.messages += 1
        if topic.endswith("/alarms"):
            self.alarms.append(body)
            return
        for r in body["readings"]:
            self.readings.append((r["channel"], _ms(r["ts"]), r["seq"], body["live"]))

    def distinct(self) -> set[tuple[str, int]]:
        return {(c, ts) for c, ts, _, _ in self.readings}


@contextlib.asynccontextmanager
async def consuming(consumer: PlatformConsumer) -> AsyncIterator[PlatformConsumer]:
    task = asyncio.create_task(consumer.run())
    try:
        yield consumer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def published_keys(load: SensorLoad) -> set[tuple[str, int]]:
    return {(c, round(ts * 1000)) for c, stamps in load.acknowledged.items() for ts in stamps}


def stored_keys(db: Path) -> set[tuple[str, int]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT c.name, r.ts FROM readings r JOIN channels c ON c.id = r.channel")
        return {(name, round(ts * 1000)) for name, ts in rows}


def stored_event_ids(db: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM alarm_events")}


def ports() -> tuple[int, int]:
    return free_port(), free_port()
