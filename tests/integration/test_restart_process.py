"""`smartsite run` killed (SIGKILL) in the middle of a rising trend and started again: the same alarms.

The readings are published over MQTT with their own time stamps; the gateway is killed part-way,
the rest is published while it is down (the broker keeps it for the gateway's session), and the
gateway is started again. Its alarm events and records must be what one uninterrupted pass of the
site's analytics gives on the same readings: nothing raised twice, the settlement's baseline kept.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np
import pytest

from gateway.config import parse_config
from gateway.site import Site
from tests.support import Mosquitto, free_port, smartsite_command, stop_process, wait_for_port

pytestmark = pytest.mark.integration

SITE = """
site: {{id: rs, timezone: Asia/Shanghai}}
mqtt: {{url: "{url}"}}
devices:
  - id: pit
    type: mqtt
    channels: {{settle: {{unit: mm}}, tilt: {{unit: mm}}}}
rules:
  - id: settlement
    type: cumulative
    channels: [pit.settle]
    upper: {{yellow: 5, orange: 8}}
    hysteresis: 0.5
  - id: tilt_rate
    type: rate
    channels: [pit.tilt]
    window_s: 3600
    per: hour
    upper: {{yellow: 2, orange: 4, red: 6}}
sinks:
  - {{type: sqlite, path: gw.db}}
api: {{port: {port}}}
"""

MINUTES = 420  # 7 h of readings a minute
KILL_AFTER = 240  # between the tilt's yellow and orange, with the settlement's alarm active


def readings() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    start = float(int(time.time()) - 8 * 3600)  # in the past: device time is never ahead of the gateway
    t = np.arange(MINUTES) * 60.0
    tilt = 0.5 * (t / 3600.0) ** 2 + np.random.default_rng(3).normal(0.0, 0.02, MINUTES)
    settle = 100.0 + np.interp(np.arange(MINUTES), [0, 150, 330, MINUTES], [0.0, 7.2, 7.4, 0.5])
    return start + t, settle, tilt


def uninterrupted(config_text: str, ts: np.ndarray, settle: np.ndarray, tilt: np.ndarray) -> list[tuple]:
    engine, book = Site(parse_config(config_text)).analytics()
    n = len(ts)
    result = engine.process(
        np.repeat(ts, 2), np.tile(np.array([0, 1], np.int32), n), np.column_stack([settle, tilt]).ravel(),
        np.zeros(2 * n, np.uint8),
    )  # fmt: skip
    return sorted((e.ts, e.rule, e.grade, e.state) for e in book.apply(result.transitions))


def stored_events(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT ts, rule, grade, state FROM alarm_events ORDER BY ts, rule").fetchall()
    return [tuple(r) for r in rows]


def get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/{path}", timeout=5) as answer:
        return json.load(answer)


def start(site: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([*smartsite_command(), "run", "--config", str(site)], stderr=subprocess.DEVNULL)
    wait_for_port(port, 20)
    deadline = time.monotonic() + 10
    while not all(s["connected"] for s in get(port, "health")["sources"]):
        assert time.monotonic() < deadline, "the gateway's MQTT input never connected"
        time.sleep(0.1)
    return proc


def wait_until(check: Any, what: str, within_s: float = 10.0) -> Any:
    deadline = time.monotonic() + within_s
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return found


async def publish(broker: Mosquitto, ts: np.ndarray, settle: np.ndarray, tilt: np.ndarray) -> None:
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="pit-dtu") as client:
        for t, s, x in zip(ts.tolist(), settle.tolist(), tilt.tolist(), strict=True):
            body = {"ts": t, "values": {"settle": s, "tilt": x}}
            await client.publish("smartsite/rs/devices/pit/up", json.dumps(body).encode(), qos=1)


async def test_killed_mid_trend_and_started_again_gives_the_same_alarms(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    port = free_port()
    text = SITE.format(url=mosquitto.url, port=port)
    site = tmp_path / "site.yaml"
    site.write_text(text)
    ts, settle, tilt = readings()
    expected = uninterrupted(text, ts, settle, tilt)
    assert {(r, s) for _, r, _, s in expected} >= {("tilt_rate", "raised"), ("settlement", "cleared")}
    db = tmp_path / "gw.db"

    proc = start(site, port)
    try:
        await publish(mosquitto, ts[:KILL_AFTER], settle[:KILL_AFTER], tilt[:KILL_AFTER])
        before = [e for e in expected if e[0] <= ts[KILL_AFTER - 1]]
        wait_until(lambda: get(port, "health")["readings"] == 2 * KILL_AFTER, "the first readings judged")
        wait_until(lambda: len(get(port, "alarms")) == len({e[1] for e in before}), "the first alarms")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        # Published while the gateway is down: the broker keeps them for its session.
        await publish(mosquitto, ts[KILL_AFTER:], settle[KILL_AFTER:], tilt[KILL_AFTER:])
        proc = start(site, port)
        resumed = get(port, "health")["resumed"]
        assert resumed["readings"] > 0 and resumed["alarms_continued"] == 2
        assert get(port, "baselines")[0]["value"] == 100.0
        wait_until(lambda: stored_events(db) == expected, "the alarms of an uninterrupted run", 15)
        records = get(port, "alarms")
        assert sorted((r["rule"], r["active"], r["reopened"]) for r in records) == [
            ("settlement", False, 0),
            ("tilt_rate", True, 0),
        ]
    finally:
        stop_process(proc)
