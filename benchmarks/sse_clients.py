"""Benchmark: the live stream and the dashboard's first load, on a site at 1,000 readings/s.

1. Gateway CPU with 50 live-stream clients against none: ``smartsite run`` (its own process, CPU
   read from /proc) fed 1,000 readings/s over MQTT (50 devices x 4 quantities at 5 Hz, one message
   per device reading) by a publisher in this process; first with no client, then with 50 clients
   reading ``/api/v1/events`` (rate 1/s per channel, 200 readings a second each). Ratio = CPU with
   clients / CPU without.
2. Event delay: for every reading a client receives, its arrival time minus the reading's time
   (stamped by the publisher when sent): MQTT, analytics, the live feed and the stream together.
   p50 / p99 / max over all 50 clients.
3. Dashboard first load (headless Chromium, Debian's): bytes transferred for the page and
   everything it loads (API answers included, the stream's bytes excluded), and the time from the
   navigation to the first active alarm shown.

Everything runs on free loopback ports (a private mosquitto, the gateway); nothing else is touched.

Run: .venv/bin/python benchmarks/sse_clients.py [--seconds 15] [--clients 50] [--json] [--no-browser]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' server helpers
from tests.support import Mosquitto, free_port, smartsite_command, wait_for_port

DEVICES = 50
QUANTITIES = ("a", "b", "c", "d")
HZ = 5.0  # per device: 50 x 4 x 5 = 1,000 readings/s
TOKEN = "bench-token"


def site_file(folder: Path, broker: str, port: int) -> Path:
    devices = "\n".join(
        f"  - {{id: d{i:02d}, type: mqtt, name: 测点 {i}, plan_xy: [{(i % 10) / 10 + 0.05:.2f}, "
        f"{(i // 10) / 5 + 0.1:.2f}], channels: {{"
        + ", ".join(f"{q}: {{unit: mm, resolution: 0.01}}" for q in QUANTITIES)
        + "}}"
        for i in range(DEVICES)
    )
    text = f"""site: {{id: bench, name: bench site}}
mqtt: {{url: "{broker}", persistent_session: false}}
devices:
{devices}
rules:
  - {{id: hi, type: threshold, channels: ["d*.a"], upper: {{yellow: 50, red: 90}}, min_hold_s: 0}}
sinks:
  - {{type: sqlite, path: store.db}}
api:
  port: {port}
  anonymous_role: none
  users:
    - {{name: Bench, role: supervisor, token_env: BENCH_TOKEN}}
"""
    path = folder / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Publisher(threading.Thread):
    """1,000 readings/s: each device's four values in one message, 5 times a second, paced."""

    def __init__(self, port: int, alarm_device: int | None = None) -> None:
        super().__init__(daemon=True)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-sensors")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.stop = threading.Event()
        self.sent = 0
        self.high = alarm_device

    def run(self) -> None:
        period = 1.0 / HZ
        start = time.monotonic()
        tick = 0
        while not self.stop.is_set():
            for i in range(DEVICES):
                now = time.time()
                value = 95.0 if i == self.high else 10.0 + (tick % 10) * 0.01
                payload = {"ts": now, "values": {q: value for q in QUANTITIES}}
                self.client.publish(f"smartsite/bench/devices/d{i:02d}/up", json.dumps(payload), qos=0)
                self.sent += len(QUANTITIES)
                # Spread the devices over the period, as real sensors are.
                time.sleep(max(0.0, start + tick * period + (i + 1) * period / DEVICES - time.monotonic()))
            tick += 1

    def close(self) -> None:
        self.stop.set()
        self.join(5)
        self.client.loop_stop()
        self.client.disconnect()


async def client(url: str, until: float, delays: list[float], counts: list[int]) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    received = 0
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        http.stream("GET", "/api/v1/events?rate=1", headers=headers) as response,
    ):
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "readings":
                arrived = time.time()
                for reading in json.loads(line[6:])["readings"]:
                    delays.append(arrived - datetime.fromisoformat(reading["ts"]).timestamp())
                    received += 1
            if time.time() > until:
                break
    counts.append(received)


async def with_clients(url: str, n: int, seconds: float) -> tuple[list[float], list[int]]:
    delays: list[float] = []
    counts: list[int] = []
    until = time.time() + seconds
    await asyncio.gather(*(client(url, until, delays, counts) for _ in range(n)))
    return delays, counts


def measure_cpu(pid: int, seconds: float) -> float:
    begin, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - begin) / (time.monotonic() - t0)


def first_load(url: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--headless"])
        context = browser.new_context(viewport={"width": 390, "height": 844})
        context.add_init_script(f"localStorage.setItem('smartsite-token', {TOKEN!r})")
        page = context.new_page()
        sizes: list[int] = []

        def counted(response: Any) -> None:
            if "/api/v1/events" not in response.url:
                with contextlib.suppress(Exception):
                    sizes.append(len(response.body()))

        page.on("response", counted)
        began = time.perf_counter()
        page.goto(url + "/")
        page.wait_for_selector(".card:not(.inactive)", timeout=30_000)
        shown_s = time.perf_counter() - began
        time.sleep(1.0)  # the cycles and chart requests made after the first render
        browser.close()
    return {"bytes": sum(sizes), "requests": len(sizes), "first_alarm_s": round(shown_s, 3)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sse-") as tmp:
        folder = Path(tmp)
        broker = Mosquitto(folder / "broker")
        broker.start()
        port = free_port()
        config = site_file(folder, broker.url, port)
        env = {**os.environ, "BENCH_TOKEN": TOKEN}
        log = (folder / "gateway.log").open("wb")
        gateway = subprocess.Popen(
            [*smartsite_command(), "run", "--config", str(config)],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=log,
        )
        publisher: Publisher | None = None
        try:
            wait_for_port(port, 30)
            url = f"http://127.0.0.1:{port}"
            time.sleep(2)  # the MQTT source subscribed
            publisher = Publisher(broker.port, alarm_device=7)
            publisher.start()
            time.sleep(3)  # warm: windows filled, the alarm raised
            sent_before = publisher.sent
            idle = measure_cpu(gateway.pid, args.seconds)
            rate = (publisher.sent - sent_before) / args.seconds
            begin = cpu_seconds(gateway.pid)
            t0 = time.monotonic()
            delays, counts = asyncio.run(with_clients(url, args.clients, args.seconds))
            busy = (cpu_seconds(gateway.pid) - begin) / (time.monotonic() - t0)
            delays.sort()
            health = httpx.get(f"{url}/api/v1/health").json()
            figures: dict[str, Any] = {
                "readings_per_s": round(rate),
                "clients": args.clients,
                "cpu_no_clients": round(idle, 3),
                "cpu_with_clients": round(busy, 3),
                "cpu_ratio": round(busy / idle, 2) if idle else None,
                "readings_received_per_client_s": round(statistics.mean(counts) / args.seconds, 1),
                "delay_p50_ms": round(1000 * delays[len(delays) // 2], 1),
                "delay_p99_ms": round(1000 * delays[int(len(delays) * 0.99)], 1),
                "delay_max_ms": round(1000 * delays[-1], 1),
                "gateway_readings": health["readings"],
            }
            if not args.no_browser:
                figures["first_load"] = first_load(url)
        finally:
            if publisher is not None:
                publisher.close()
            gateway.terminate()
            gateway.wait(15)
            broker.stop()
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:32} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
