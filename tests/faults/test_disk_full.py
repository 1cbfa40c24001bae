"""A full disk never stops alarms: real mosquitto, the stores on a real 4 MB filesystem (tmpfs).

The disk is filled by another file (as logs or a camera's recordings fill a site PC), not by the
gateway, so eviction alone cannot make room. A reading past the red limit must still be judged and
reach the alarm desk within a second; health names the failing store; once space returns, every
message the broker kept is stored exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from gateway.config import parse_config
from gateway.storage.failover import CHANNEL, RULE
from tests.integration.site_helpers import running
from tests.support import Mosquitto, eventually, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DISK_BYTES = 4 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs: needs root (as the gateway's own tests run in CI on this machine)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot mount a small filesystem for the disk-full test: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


class DiskFiller:
    """Another program's file that takes every block freed on the disk, until stopped."""

    def __init__(self, disk: Path) -> None:
        self.path = disk / "camera.mp4"
        self._out = self.path.open("wb", buffering=0)

    def fill(self) -> None:
        for block in (65536, 4096, 512):
            with contextlib.suppress(OSError):
                while True:
                    self._out.write(b"\xff" * block)

    async def keep_full(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.fill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.02)

    def remove(self) -> None:
        self._out.close()
        self.path.unlink()


def _site(port: int, disk: Path) -> str:
    return f"""
site: {{id: full}}
mqtt: {{url: "mqtt://127.0.0.1:{port}", client_id: full-gateway-in}}
devices:
  - id: pit1
    type: mqtt
    channels: {{disp: {{unit: mm, range: [-200, 200]}}}}
rules:
  - {{id: pit_wall, type: threshold, channels: [pit1.disp], upper: {{yellow: 20, red: 30}}, hysteresis: 1}}
alarms: {{store: {disk / "alarms.db"}}}
sinks:
  - type: sqlite
    path: {disk / "store.db"}
api: {{port: {free_port()}}}
"""


@pytest.fixture
def site_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker as a site has it: mosquitto's default of 20 unacknowledged messages per client."""
    broker = Mosquitto(tmp_path / "broker", max_inflight=20)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def test_full_disk_alarms_go_on_and_everything_the_broker_kept_is_stored_once(
    site_broker: Mosquitto, small_disk: Path, tmp_path: Path
) -> None:
    mosquitto = site_broker
    config = parse_config(_site(mosquitto.port, small_disk))
    published: list[float] = []
    async with (
        running(config, tmp_path) as runtime,
        aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="pit1-dtu") as sensor,
    ):
        await eventually(lambda: runtime.sources[0].connected, 10, "gateway subscribed")
        assert runtime.failover is not None

        async def send(value: float) -> float:
            ts = round(time.time(), 3)
            body = json.dumps({"ts": ts, "values": {"disp": value}})
            await sensor.publish("smartsite/full/devices/pit1/up", body, qos=1)
            published.append(ts)
            return ts

        for i in range(20):
            await send(1.0 + i * 0.01)
            await asyncio.sleep(0.02)
        store = runtime.store
        assert store is not None
        await eventually(lambda: store.counters.readings_written >= 20, 10, "first readings stored")

        filler = DiskFiller(small_disk)
        filler.fill()
        assert shutil.disk_usage(small_disk).free < 64 * 1024
        space_returns = asyncio.Event()
        filling = asyncio.create_task(filler.keep_full(space_returns))
        # Normal readings keep coming while the disk is full: the store fails, the input would stall.
        for i in range(60):
            await send(2.0 + i * 0.01)
            await asyncio.sleep(0.05)
        await eventually(lambda: runtime.failover is not None and runtime.failover.active, 20, "failover")
        health = runtime.health()
        assert health["status"] == "degraded"
        assert "full" in (health["store_failover"]["error"] or "")

        raised_at = await send(45.0)
        sent = time.monotonic()
        record = await eventually(
            lambda: next(
                (r for r in runtime.desk.records.values() if r.channel == "pit1.disp" and r.grade == 3), None
            ),
            5,
            "red pit-wall alarm on a full disk",
        )
        assert time.monotonic() - sent < 1.0
        assert record.value == 45.0
        assert record.raised_ts == pytest.approx(raised_at, abs=0.01)
        gateway_alarm = next(r for r in runtime.desk.records.values() if r.channel == CHANNEL)
        assert (gateway_alarm.rule, gateway_alarm.grade, gateway_alarm.active) == (RULE, 3, True)

        for i in range(20):
            await send(3.0 + i * 0.01)
            await asyncio.sleep(0.02)

        space_returns.set()
        await filling
        filler.remove()
        await eventually(lambda: not runtime.failover.active, 40, "store written again, failover ended")
        await eventually(
            lambda: _stored(small_disk / "store.db") >= len(published), 20, "every published reading stored"
        )
        assert runtime.health()["status"] == "ok"
        await eventually(
            lambda: not next(r for r in runtime.desk.records.values() if r.channel == CHANNEL).active,
            5,
            "the gateway alarm cleared",
        )
        # The 45 mm reading raised once, although it reached the gateway twice (live, then stored).
        raises = [r for r in runtime.desk.records.values() if r.channel == "pit1.disp"]
        assert len(raises) == 1
    assert _stored(small_disk / "store.db") == len(published)
    assert _stored_times(small_disk / "store.db") == sorted(published)


def _stored(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])


def _stored_times(db: Path) -> list[float]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [round(t, 3) for (t,) in conn.execute("SELECT ts FROM readings ORDER BY ts")]
