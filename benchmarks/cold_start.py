"""Benchmark: cold start of `smartsite run` to ready (the API answers health) with 200 MQTT devices.

Baseline in the same run: the same site with an InfluxDB sink configured, which loads
influxdb-client (and aiohttp, reactivex); a site without one no longer pays for them. A private
mosquitto on a free port; each start is timed ``--runs`` times and the median printed.

    .venv/bin/python benchmarks/cold_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import Mosquitto, free_port  # noqa: E402

DEVICES = 200


def site_yaml(broker_port: int, api_port: int, folder: Path, influx: bool) -> str:
    quantities = "{" + ", ".join(f"q{q}: {{unit: mm}}" for q in range(5)) + "}"
    devices = "\n".join(f"  - {{id: d{d}, type: mqtt, channels: {quantities}}}" for d in range(DEVICES))
    sinks = f"  - {{type: sqlite, path: {folder / 'store.db'}}}\n"
    if influx:
        sinks += f"  - {{type: influxdb, url: 'http://127.0.0.1:{free_port()}', bucket: b, org: o}}\n"
    return f"""
site: {{id: cold}}
mqtt: {{url: "mqtt://127.0.0.1:{broker_port}", client_id: cold-in}}
devices:
{devices}
rules:
  - {{id: high, type: threshold, channels: ["*"], upper: {{yellow: 500, red: 800}}}}
sinks:
{sinks}alarms: {{store: {folder / "alarms.db"}}}
api: {{port: {api_port}}}
"""


def time_to_ready(broker_port: int, folder: Path, influx: bool) -> float:
    api_port = free_port()
    site = folder / "site.yaml"
    site.write_text(site_yaml(broker_port, api_port, folder, influx))
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartsite.cli", "run", "--config", str(site)],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        deadline = start + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{api_port}/api/v1/health", timeout=1
                ) as answer:
                    if answer.status == 200:
                        return time.monotonic() - start
            except OSError:
                time.sleep(0.01)
        raise SystemExit("the gateway did not get ready within 30 s")
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "broker")
        broker.start()
        try:
            figures = {}
            for influx in (False, True):
                times = []
                for run in range(args.runs):
                    folder = Path(tmp) / f"{'influx' if influx else 'plain'}-{run}"
                    folder.mkdir()
                    times.append(time_to_ready(broker.port, folder, influx))
                figures[influx] = statistics.median(times)
        finally:
            broker.stop()
    print(f"ready, 200 devices, no InfluxDB sink:   {figures[False]:.2f} s (median of {args.runs})")
    print(f"ready, 200 devices, with InfluxDB sink: {figures[True]:.2f} s")
    print(f"ratio without / with: {figures[False] / figures[True]:.2f}")


if __name__ == "__main__":
    main()
