"""Soak: a real gateway process under sensor load for a long time, with faults injected on a cycle.

A private sensor broker and platform broker (mosquitto), VictoriaMetrics when installed, and `smartsite
run` as its own process. Ten devices publish 100 readings per round (``--rate`` readings/s in all), each
its ten quantities in one QoS 1 message, from a raw-socket publisher process (benchmarks/soak_peers.py)
that keeps the pace; one channel is above its alarm limit for 2 s out of every 4 s. A platform consumer
process counts what the uplink delivers. Every ``--fault-every`` seconds the next fault on the list
happens: the platform broker stops for a while, the TSDB stops, the gateway is SIGKILLed and started
again, the store's disk fills up (another program's file takes every free block for a while, then is
deleted; the stores are on a tmpfs of their own, which needs root to mount: without it this fault is
left out and the output says so). Every 10 s the gateway's RSS and open files are sampled. At the end:
readings lost (acknowledged by the broker, not stored) and duplicated (stored or forwarded twice), RSS
and open files first/last/max, alarm raises expected vs stored, all printed and with ``--json`` as one
document.

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

import numpy as np  # noqa: E402

from benchmarks.soak_peers import (  # noqa: E402  (a script: the repository on the path first)
    CHANNELS,
    QUANTITIES,
    alarm_raises_expected,
    count_stored,
    stored_rows,
)
from tests.faults.harness import GatewayProcess, site_yaml  # noqa: E402
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


class Peer:
    """One of benchmarks/soak_peers.py's child processes, asked over its stdin and stdout."""

    def __init__(self, role: str, *args: object) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("soak_peers.py")), role, *map(str, args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    async def ask(self, line: str | None = None) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if line is not None:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        return await asyncio.to_thread(self.proc.stdout.readline)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def _sensor_broker(folder: Path) -> Mosquitto:
    """Not restarted by any fault, so nothing to persist; queues deep enough for a gateway restart."""
    broker = Mosquitto(folder)
    conf = broker.conf.read_text().replace("persistence true", "persistence false")
    broker.conf.write_text(conf.replace("max_queued_messages 100000", "max_queued_messages 1000000"))
    return broker


def _config(sensor_port: int, api_port: int, db: Path, platform_port: int, influx: str | None) -> str:
    # No eviction: every reading of the hour must still be there to be counted at the end.
    keep_all = "    retention: {max_age_days: null, max_size_mb: null}\n"
    config = site_yaml(sensor_port, api_port, db, platform_port, influx, retention=keep_all)
    # The brokers here allow 1,000 messages in flight (tests.support.Mosquitto): tell the gateway.
    config = config.replace("client_id: f1-gateway-in}", "client_id: f1-gateway-in, inflight_window: 1000}")
    return config + f"alarms: {{store: {db.with_name('alarms.db')}}}\n"


async def soak(
    minutes: float, rate: float, fault_every_s: float, faults_wanted: list[str] = FAULTS
) -> dict[str, Any]:
    rounds_per_s = rate / CHANNELS
    duration = minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sensors, platform = _sensor_broker(folder / "sensors"), Mosquitto(folder / "platform")
        tsdb = VictoriaMetrics(folder / "vm")
        sensors.start()
        platform.start()
        tsdb.start()
        api_port = free_port()
        disk = SmallDisk(folder / "disk")
        db = (disk.path if disk.mounted else folder) / "store.db"
        influx = f"http://127.0.0.1:{tsdb.port}" if tsdb.proc is not None else None
        gateway = GatewayProcess(folder, _config(sensors.port, api_port, db, platform.port, influx), api_port)
        samples: list[dict[str, float]] = []
        faults: list[str] = []
        consumer: Peer | None = None
        publisher: Peer | None = None
        try:
            gateway.start()
            await _ready(gateway)
            begin = round(time.time() + 2.0, 3)
            consumer = Peer("--consumer", platform.port, begin, rounds_per_s, duration, folder)
            await consumer.ask()  # started
            publisher = Peer("--publisher", sensors.port, begin, rounds_per_s, duration, folder / "acked.npy")
            next_fault = begin + fault_every_s
            plan = [f for f in faults_wanted if disk.mounted or f != "store disk full"]
            if not disk.mounted:
                print(f"  no disk faults: cannot mount a tmpfs ({disk.why_not})", flush=True)
            while time.time() - begin < duration:
                await asyncio.sleep(SAMPLE_EVERY_S)
                if gateway.proc is not None:
                    rss, fds = _proc_figures(gateway.proc.pid)
                    samples.append({"t_s": round(time.time() - begin), "rss_mb": rss, "fds": fds})
                if time.time() >= next_fault and time.time() - begin < duration - 2 * OUTAGE_S:
                    fault = plan[len(faults) % len(plan)]
                    faults.append(fault)
                    await _inject(fault, gateway, sensors, platform, tsdb, disk)
                    next_fault = time.time() + fault_every_s
            sent = json.loads(await publisher.ask())
            acked = np.load(folder / "acked.npy")
            expected = int(acked.sum()) * QUANTITIES
            waited = await _settle(db, consumer, expected)
            gateway.stop(signal.SIGTERM)
            platform_figures = json.loads(await consumer.ask("stop"))
            on_platform = np.load(folder / "platform_counts.npy")[: len(acked)]
            stored, foreign = count_stored(db, begin, rounds_per_s, len(acked))
            with contextlib.closing(sqlite3.connect(db)) as conn:
                query = "SELECT count(*) FROM alarm_events WHERE channel = 's0.q0' AND state = 'raised'"
                raises = int(conn.execute(query).fetchone()[0])
        finally:
            for peer in (publisher, consumer):
                if peer is not None:
                    peer.kill()
            gateway.stop(signal.SIGKILL)
            tsdb.stop()
            platform.stop()
            sensors.stop()
            disk.unmount()
    published = np.repeat(acked.astype(bool), QUANTITIES, axis=1)  # (round, device) -> (round, channel)
    rss = [s["rss_mb"] for s in samples]
    fds = [s["fds"] for s in samples]
    return {
        "minutes": minutes,
        "rate_readings_per_s": rate,
        "published": expected,
        "published_per_s": round(expected / duration),
        "unacknowledged_by_broker": sent["unacknowledged"],
        "lost": int(np.count_nonzero(published & (stored == 0))),
        "duplicated_in_store": int(np.clip(stored - 1, 0, None).sum()),
        "stored_not_published": int(np.count_nonzero(~published & (stored > 0))) + foreign,
        "forwarded_readings": platform_figures["readings"],
        "forwarded_distinct": int(np.count_nonzero(on_platform)),
        "lost_on_platform": int(np.count_nonzero(published & (on_platform == 0))),
        "caught_up_after_s": waited,
        "alarm_raises_expected": alarm_raises_expected(acked, rounds_per_s),
        "alarm_raises_stored": raises,
        "alarm_raises_on_platform": platform_figures["alarm_raises"],
        "gateway_alarm_raises_on_platform": platform_figures["gateway_alarm_raises"],
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


async def _settle(db: Path, consumer: Peer, expected: int, within_s: float = 300.0) -> float | None:
    """Wait (bounded) until the store and the platform hold as many readings as the broker took."""
    began = time.monotonic()
    while time.monotonic() - began < within_s:
        if stored_rows(db) >= expected and int(await consumer.ask("count")) >= expected:
            return round(time.monotonic() - began, 1)
        await asyncio.sleep(2.0)
    return None


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
