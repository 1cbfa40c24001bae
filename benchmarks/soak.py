"""Soak: a real gateway process under sensor load for a long time, with faults injected on a cycle.

A private sensor broker and platform broker (mosquitto), VictoriaMetrics when installed, and
`smartsite run` as its own process. Ten devices publish 100 readings per round (``--rate``
readings/s in all); one channel crosses its alarm limit every 2 s. Every ``--fault-every`` seconds
the next fault on the list happens: the platform broker stops for a while, the TSDB stops, the
gateway is SIGKILLed and started again, the store's disk fills up (another program's file takes
every free block for a while, then is deleted; the stores are on a tmpfs of their own, which
needs root to mount: without it this fault is left out and the output says so). Every 10 s the
gateway's RSS and open files are sampled. At the end: readings lost (acknowledged by the broker,
not stored) and duplicated (stored or forwarded twice), RSS and open files first/last/max, alarm
raises expected vs stored, all printed and with ``--json`` as one document.

    .venv/bin/python benchmarks/soak.py --minutes 60 --rate 10000   # the figure in the notes
    .venv/bin/python benchmarks/soak.py --minutes 3 --rate 2000     # a quick look
    .venv/bin/python benchmarks/soak.py --minutes 2 --fault-every 20 --faults "store disk full"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.faults.harness import (  # noqa: E402  (a script: the repository on the path first)
    GatewayProcess,
    PlatformConsumer,
    SensorLoad,
    consuming,
    published_keys,
    site_yaml,
    stored_keys,
)
from tests.support import Mosquitto, free_port  # noqa: E402

SAMPLE_EVERY_S = 10.0
OUTAGE_S = 30.0
DISK_MB = 3072  # an hour at 10,000 readings/s is about 1.5 GB of store


class SmallDisk:
    """The stores' own filesystem (tmpfs), so that filling it hits only them."""

    def __init__(self, folder: Path, size_mb: int = DISK_MB) -> None:
        self.path = folder
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        self.mounted = done.returncode == 0
        self.why_not = done.stderr.strip()

    async def fill_for(self, seconds: float) -> None:
        """Another program's file takes every free block, and keeps taking what is freed."""
        filler = self.path / "camera.mp4"
        with filler.open("wb", buffering=0) as out:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for block in (1 << 20, 65536, 4096, 512):
                    with contextlib.suppress(OSError):
                        while True:
                            out.write(b"\xff" * block)
                await asyncio.sleep(0.05)
        filler.unlink()

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=False)


def _proc_figures(pid: int) -> tuple[float, int]:
    """RSS in MB and open file descriptors of a process."""
    rss_kb = 0
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    try:
        fds = len(list(Path(f"/proc/{pid}/fd").iterdir()))
    except OSError:
        fds = 0
    return rss_kb / 1024, fds


class VictoriaMetrics:
    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("victoria-metrics")
        if binary is None:
            return
        self.proc = subprocess.Popen(
            [binary, f"-httpListenAddr=127.0.0.1:{self.port}", f"-storageDataPath={self.folder}",
             "-retentionPeriod=1", "-search.latencyOffset=0s"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=15)
            self.proc = None


FAULTS = ["platform broker down", "TSDB down", "gateway SIGKILL", "store disk full"]


async def soak(
    minutes: float, rate: float, fault_every_s: float, faults_wanted: list[str] = FAULTS
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sensors, platform = Mosquitto(folder / "sensors"), Mosquitto(folder / "platform")
        tsdb = VictoriaMetrics(folder / "vm")
        sensors.start()
        platform.start()
        tsdb.start()
        api_port = free_port()
        disk = SmallDisk(folder / "disk")
        db = (disk.path if disk.mounted else folder) / "store.db"
        influx = f"http://127.0.0.1:{tsdb.port}" if tsdb.proc is not None else None
        config = site_yaml(sensors.port, api_port, db, platform.port, influx)
        config += f"alarms: {{store: {db.with_name('alarms.db')}}}\n"
        gateway = GatewayProcess(folder, config, api_port)
        consumer = PlatformConsumer(platform.port)
        samples: list[dict[str, float]] = []
        faults: list[str] = []
        duration = minutes * 60
        try:
            async with consuming(consumer):
                gateway.start()
                await _ready(gateway)
                load = SensorLoad(sensors.port, rounds_per_s=rate / 100)
                publishing = asyncio.create_task(load.run(duration))
                start = time.monotonic()
                next_fault = start + fault_every_s
                # The sensor broker is not restarted: the load generator (tests.faults.harness) does
                # not reconnect, and its stamps would jump on a new start.
                plan = [f for f in faults_wanted if disk.mounted or f != "store disk full"]
                if not disk.mounted:
                    print(f"  no disk faults: cannot mount a tmpfs ({disk.why_not})", flush=True)
                while time.monotonic() - start < duration:
                    await asyncio.sleep(SAMPLE_EVERY_S)
                    if gateway.proc is not None:
                        rss, fds = _proc_figures(gateway.proc.pid)
                        samples.append({"t_s": round(time.monotonic() - start), "rss_mb": rss, "fds": fds})
                    if time.monotonic() >= next_fault and time.monotonic() - start < duration - 2 * OUTAGE_S:
                        fault = plan[len(faults) % len(plan)]
                        faults.append(fault)
                        await _inject(fault, gateway, sensors, platform, tsdb, disk)
                        next_fault = time.monotonic() + fault_every_s
                load.stop()
                await publishing
                await _settle(db, load, consumer)
                gateway.stop(signal.SIGTERM)
            published = published_keys(load)
            stored = stored_keys(db)
            with contextlib.closing(sqlite3.connect(db)) as conn:
                rows = int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])
                query = "SELECT count(*) FROM alarm_events WHERE channel = 's0.q0' AND state = 'raised'"
                raises = int(conn.execute(query).fetchone()[0])
        finally:
            gateway.stop(signal.SIGKILL)
            tsdb.stop()
            platform.stop()
            sensors.stop()
            disk.unmount()
        forwarded = len(consumer.readings)
        rss = [s["rss_mb"] for s in samples]
        fds = [s["fds"] for s in samples]
        return {
            "minutes": minutes,
            "rate_readings_per_s": rate,
            "published": len(published),
            "lost": len(published - stored),
            "duplicated_in_store": rows - len(stored),
            "forwarded_messages_readings": forwarded,
            "forwarded_distinct": len(consumer.distinct()),
            "lost_on_platform": len(published - consumer.distinct()),
            "alarm_raises_stored": raises,
            # s0.q0 goes above its limit once every 40 rounds (harness SensorLoad.value).
            "alarm_crossings_expected": (load.rounds + 20) // 40,
            "faults": faults,
            "disk_faults": disk.mounted,
            "rss_mb": _spread(rss),
            "open_files": _spread(fds),
            "samples": samples,
        }  # fmt: skip


def _spread(values: list[float] | list[int]) -> dict[str, float | None]:
    if not values:
        return {"first": None, "last": None, "max": None}
    return {"first": values[0], "last": values[-1], "max": max(values)}


async def _ready(gateway: GatewayProcess) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        health = await gateway.health()
        if health and all(s["connected"] for s in health["sources"]):
            return
        await asyncio.sleep(0.2)
    raise SystemExit(f"the gateway never came up:\n{gateway.log_tail()}")


async def _inject(
    fault: str,
    gateway: GatewayProcess,
    sensors: Mosquitto,
    platform: Mosquitto,
    tsdb: VictoriaMetrics,
    disk: SmallDisk,
) -> None:
    print(f"  fault: {fault}", flush=True)
    if fault == "platform broker down":
        platform.stop()
        await asyncio.sleep(OUTAGE_S)
        platform.start()
    elif fault == "TSDB down":
        tsdb.stop()
        await asyncio.sleep(OUTAGE_S)
        tsdb.start()
    elif fault == "gateway SIGKILL":
        gateway.stop(signal.SIGKILL)
        await asyncio.sleep(2.0)
        gateway.start()
        await _ready(gateway)
    elif fault == "store disk full":
        await disk.fill_for(OUTAGE_S)
    elif fault == "sensor broker restart":
        sensors.stop()
        await asyncio.sleep(2.0)
        sensors.start()


async def _settle(db: Path, load: SensorLoad, consumer: PlatformConsumer, within_s: float = 120.0) -> None:
    """Wait (bounded) until the store holds what the broker took and the platform has it too."""
    deadline = time.monotonic() + within_s
    published = published_keys(load)
    while time.monotonic() < deadline:
        if db.exists() and not published - stored_keys(db) and not published - consumer.distinct():  # noqa: ASYNC240
            return
        await asyncio.sleep(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=10_000.0, help="readings per second in all")
    parser.add_argument("--fault-every", type=float, default=180.0, help="seconds between faults")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--faults", default=",".join(FAULTS), help=f"comma-separated, in turn (default: {','.join(FAULTS)})"
    )
    args = parser.parse_args()
    wanted = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in FAULTS]
    if unknown or not wanted:
        parser.error(f"--faults: unknown {unknown}; choose from {FAULTS}")
    result = asyncio.run(soak(args.minutes, args.rate, args.fault_every, wanted))
    for key, value in result.items():
        if key != "samples":
            print(f"{key:28} {value}")
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
