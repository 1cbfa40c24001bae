"""Benchmark: store and forward. Four figures, each against a naive baseline measured in the same run.

1. backlog drain to mosquitto: a stored backlog (never offered live) forwarded by ``Forwarder`` +
   ``MqttUplink`` until the queue is empty and a subscriber (another process) has every reading;
   baseline: each reading read from the store and published as its own QoS 1 message, awaited one
   at a time.
2. backlog drain to VictoriaMetrics: the same with ``InfluxDestination`` until the queue is empty
   (the count is then confirmed through VictoriaMetrics' export); baseline: influxdb-client's usual
   path, one ``Point`` per reading written with the synchronous write API in batches of 5,000.
3. steady state at 10,000 readings/s: ``StoreWriter`` + a forwarder to mosquitto + a forwarder to
   VictoriaMetrics in this process, fed 100 readings every 10 ms; this process's CPU time (all its
   threads) over the wall time, raw and net of the producer's own cost; baseline: one INSERT and
   commit per reading and one QoS 1 publish per reading (CPU seconds per reading).
4. crash recovery: ``smartsite run`` started on a store holding a 1,000,000-reading backlog, time
   from process start to the first telemetry message on the uplink; baseline: the same with an empty
   store (ratio = backlog / empty: close to 1 when the backlog costs nothing at start).

Brokers and VictoriaMetrics are private processes on free loopback ports; nothing else is touched.

Run: .venv/bin/python benchmarks/store_forward.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import aiomqtt
import numpy as np

from drivers.influx_destination import InfluxDestination
from drivers.mqtt_link import MqttLink
from drivers.mqtt_uplink import MqttUplink
from drivers.sqlite_store import SqliteStore
from gateway.forward.forwarder import Forwarder
from gateway.forward.stats import ForwardStats
from gateway.forward.store_writer import StoreWriter
from gateway.vocab import ReadingBatch, SinkBatch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' server helpers
from tests.support import Mosquitto, free_port
from tests.vm import VictoriaMetrics

ROOT = Path(__file__).resolve().parent.parent
DEVICES, QUANTITIES = 10, 10
CHANNELS = [f"s{d}.q{q}" for d in range(DEVICES) for q in range(QUANTITIES)]  # 100, config order
APPEND_BATCH = 10_000
INFLUX_BATCH = 5_000
DEADLINE_S = 120.0
_QUIET = logging.getLogger("smartsite.bench.aiomqtt")
_QUIET.setLevel(logging.ERROR)
_MESSAGE_ID = re.compile(rb'"id":"([^"]+)"')


@dataclass(frozen=True)
class Sizes:
    drain_mqtt: int = 300_000
    naive_mqtt: int = 5_000
    drain_influx: int = 300_000
    naive_influx: int = 50_000
    steady_s: float = 20.0
    producer_alone_s: float = 5.0
    naive_steady_s: float = 2.0
    recovery_backlog: int = 1_000_000
    recovery_runs: int = 3

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            drain_mqtt=100_000,
            naive_mqtt=2_000,
            drain_influx=100_000,
            naive_influx=20_000,
            steady_s=10.0,
            producer_alone_s=3.0,
            naive_steady_s=2.0,
            recovery_backlog=1_000_000,
            recovery_runs=1,
        )


@dataclass
class Figure:
    name: str
    value: float
    baseline: float
    ratio: float
    unit: str
    target: str
    met: bool
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _finite(self.value),
            "baseline": _finite(self.baseline),
            "ratio": _finite(self.ratio),
            "unit": self.unit,
            "target": self.target,
            "met": self.met,
            "details": self.details,
        }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def note(text: str) -> None:
    print(f"store_forward: {text}", file=sys.stderr, flush=True)


# Private servers on free loopback ports: the tests' own helpers.


def started_broker(folder: Path) -> Mosquitto:
    broker = Mosquitto(folder)
    # No persistence: the figures measure the gateway, not the broker's disk (which would slow
    # the one-message-per-reading baseline most).
    broker.conf.write_text(broker.conf.read_text().replace("persistence true", "persistence false"))
    broker.start()
    return broker


def started_victoria(folder: Path) -> VictoriaMetrics:
    vm = VictoriaMetrics(folder)
    vm.start()
    return vm


def wait_for_samples(vm: VictoriaMetrics, match: str, n: int, deadline_s: float = 30.0) -> int:
    end = time.monotonic() + deadline_s
    while True:
        count = vm.samples(match)
        if count >= n or time.monotonic() > end:
            return count
        time.sleep(0.2)


# The platform's side: a subscriber in its own process (its CPU is not the gateway's)


async def _subscriber_main(port: int, topic: str) -> None:
    """Counts readings (one ``{"seq":`` per reading), dropping a chunk seen twice by its ``id``.

    Prints ``ready`` once subscribed, ``first <time> live|backlog`` at the first message, and every 50 ms
    ``count <readings> <time of the last counted message>`` when the count moved.
    """
    count, last, first = 0, 0.0, True
    seen: set[bytes] = set()
    async with aiomqtt.Client("127.0.0.1", port, logger=_QUIET, max_inflight_messages=1000) as client:
        await client.subscribe(topic, qos=1)
        print("ready", flush=True)

        async def report() -> None:
            shown = -1
            while True:
                await asyncio.sleep(0.05)
                if count != shown:
                    shown = count
                    print(f"count {count} {last!r}", flush=True)

        reporter = asyncio.create_task(report())
        try:
            async for message in client.messages:
                now = time.time()
                payload = message.payload
                if not isinstance(payload, bytes):
                    continue
                if first:
                    first = False
                    live = b'"live":true' in payload[:300]
                    print(f"first {now!r} {'live' if live else 'backlog'}", flush=True)
                found = _MESSAGE_ID.search(payload, 0, 200)
                if found is not None:
                    if found.group(1) in seen:
                        continue
                    seen.add(found.group(1))
                count += payload.count(b'{"seq":')
                last = now
        finally:
            reporter.cancel()


class Subscriber:
    """The subscriber process, seen from here."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.count = 0
        self.last = 0.0
        self.first: float | None = None
        self.first_live = False
        self.changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, port: int, topic: str) -> Subscriber:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--subscriber", str(port), topic, stdout=asyncio.subprocess.PIPE
        )
        sub = cls(proc)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if line.strip() != b"ready":
            await sub.stop()
            raise RuntimeError(f"subscriber did not start: {line!r}")
        sub._reader = asyncio.create_task(sub._read())
        return sub

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            parts = raw.decode().split()
            if parts and parts[0] == "first":
                self.first = float(parts[1])
                self.first_live = parts[2] == "live"
            elif parts and parts[0] == "count":
                self.count, self.last = int(parts[1]), float(parts[2])
            self.changed.set()

    async def wait_for(self, n: int, deadline_s: float = DEADLINE_S) -> bool:
        end = time.monotonic() + deadline_s
        while self.count < n:
            self.changed.clear()
            left = end - time.monotonic()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)
        return True

    async def wait_first(self, deadline_s: float) -> float | None:
        end = time.monotonic() + deadline_s
        while self.first is None and time.monotonic() < end:
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), max(0.0, end - time.monotonic()))
        return self.first

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


# Data


def backlog_batches(n: int, spacing_s: float = 1.0) -> list[SinkBatch]:
    """``n`` readings of the 100 channels, one round every ``spacing_s``, ending a minute ago."""
    rounds = math.ceil(n / len(CHANNELS))
    base = time.time() - 60.0 - rounds * spacing_s
    batches = []
    for lo in range(0, n, APPEND_BATCH):
        index = np.arange(lo, min(n, lo + APPEND_BATCH), dtype=np.int64)
        batches.append(
            SinkBatch(
                ReadingBatch(
                    ts=np.asarray(base + (index // len(CHANNELS)) * spacing_s, np.float64),
                    channel=(index % len(CHANNELS)).astype(np.int32),
                    value=np.round(20.0 + 5.0 * np.sin(index * 0.001), 4),
                    quality=np.zeros(len(index), np.uint8),
                )
            )
        )
    return batches


async def fill(store: SqliteStore, n: int) -> float:
    """Append a backlog of ``n`` readings (the live chunks it returns are dropped); seconds taken."""
    start = time.perf_counter()
    for batch in backlog_batches(n):
        await store.append([batch])
    return time.perf_counter() - start


def store_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def stored_rows(path: Path, limit: int) -> list[tuple[int, float, str, float, int]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows: list[tuple[int, float, str, float, int]] = db.execute(
            "SELECT r.seq, r.ts, c.name, r.value, r.quality FROM readings r"
            " JOIN channels c ON c.id = r.channel ORDER BY r.seq LIMIT ?",
            (limit,),
        ).fetchall()
    return rows


def iso_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def thread_cpu_s(prefix: str) -> float:
    """CPU seconds so far of this process's threads named ``prefix...`` (Linux /proc; 0 elsewhere)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for thread in threading.enumerate():
        if thread.name.startswith(prefix) and thread.native_id is not None:
            try:
                stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


async def wait_queue_empty(store: SqliteStore, destination: str, every_s: float = 0.02) -> float:
    """Polls the queue; returns the wall time it was first seen empty."""
    end = time.monotonic() + DEADLINE_S
    while (await store.pending(destination)).records:
        if time.monotonic() > end:
            raise TimeoutError(f"queue for {destination} not empty after {DEADLINE_S} s")
        await asyncio.sleep(every_s)
    return time.time()


async def stop_task(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# Figure 1: backlog drain to mosquitto


async def drain_mqtt(folder: Path, broker: Mosquitto, sizes: Sizes) -> Figure:
    site = "drainmqtt"
    topic = f"smartsite/{site}/telemetry"
    path = folder / "drain_mqtt.db"
    n = sizes.drain_mqtt
    store = SqliteStore(path, CHANNELS, site=site, destinations=["mqtt"])
    async with store:
        fill_s = await fill(store, n)
        file_size = store_bytes(path)
        sub = await Subscriber.start(broker.port, topic)
        uplink = MqttUplink(
            MqttLink("127.0.0.1", broker.port), f"smartsite/{site}", store.channels, "bench-up"
        )
        try:
            async with uplink:
                if not await uplink.wait_connected(10):
                    raise RuntimeError("uplink did not connect")
                forwarder = Forwarder(uplink, store, ForwardStats("mqtt", "mqtt"), backlog_rate=None)
                start = time.time()
                task = asyncio.create_task(forwarder.run())
                emptied = await wait_queue_empty(store, "mqtt")
                arrived = await sub.wait_for(n)
                drain_s = max(emptied, sub.last) - start
                await stop_task(task)
        finally:
            await sub.stop()
        ours = n / drain_s
        messages = uplink.messages_published

    # Baseline: each stored reading read and published as its own QoS 1 message, one at a time.
    sample = sizes.naive_mqtt
    sub = await Subscriber.start(broker.port, topic)
    try:
        async with MqttLink("127.0.0.1", broker.port).client(identifier="bench-naive") as client:
            start = time.time()
            with contextlib.closing(sqlite3.connect(path)) as db:
                cursor = db.execute(
                    "SELECT r.seq, r.ts, c.name, r.value, r.quality FROM readings r"
                    " JOIN channels c ON c.id = r.channel ORDER BY r.seq LIMIT ?",
                    (sample,),
                )
                for seq, ts, channel, value, quality in cursor:
                    body = {
                        "seq": seq,
                        "ts": iso_ms(ts),
                        "channel": channel,
                        "value": value,
                        "quality": quality,
                    }
                    await client.publish(topic, json.dumps(body), qos=1)
        naive_arrived = await sub.wait_for(sample)
        naive = sample / (sub.last - start)
    finally:
        await sub.stop()
    return Figure(
        "backlog_drain_mqtt",
        ours,
        naive,
        ours / naive,
        "readings/s",
        ">= 20,000 readings/s",
        ours >= 20_000 and arrived and naive_arrived,
        {
            "backlog_readings": n,
            "store_bytes": file_size,
            "fill_s": round(fill_s, 2),
            "drain_s": round(drain_s, 3),
            "messages": messages,
            "all_arrived": arrived,
            "baseline_sample": sample,
            "baseline_all_arrived": naive_arrived,
        },
    )


# Figure 2: backlog drain to VictoriaMetrics


async def drain_influx(folder: Path, vm: VictoriaMetrics, sizes: Sizes) -> Figure:
    site = "draininflux"
    path = folder / "drain_influx.db"
    n = sizes.drain_influx
    store = SqliteStore(path, CHANNELS, site=site, destinations=["influxdb"])
    async with store:
        fill_s = await fill(store, n)
        file_size = store_bytes(path)
        destination = InfluxDestination("influxdb", vm.url, None, "bench", "smartsite", site, store.channels)
        async with destination:
            forwarder = Forwarder(destination, store, ForwardStats("influxdb", "influxdb"), backlog_rate=None)
            start = time.time()
            task = asyncio.create_task(forwarder.run())
            end = await wait_queue_empty(store, "influxdb")
            await stop_task(task)
        ours = n / (end - start)
        requests = destination.requests
    stored = await asyncio.to_thread(wait_for_samples, vm, f'reading_value{{site="{site}"}}', n)
    sample = min(sizes.naive_influx, n)
    naive_s = await asyncio.to_thread(naive_influx, vm, path, sample)
    naive_stored = await asyncio.to_thread(wait_for_samples, vm, 'reading_value{site="naive"}', sample)
    naive = sample / naive_s
    arrived = stored == n and naive_stored == sample
    return Figure(
        "backlog_drain_influx",
        ours,
        naive,
        ours / naive,
        "points/s",
        ">= 50,000 points/s",
        ours >= 50_000 and arrived,
        {
            "backlog_readings": n,
            "store_bytes": file_size,
            "fill_s": round(fill_s, 2),
            "drain_s": round(end - start, 3),
            "requests": requests,
            "victoria_metrics_samples": stored,
            "baseline_sample": sample,
            "baseline_victoria_metrics_samples": naive_stored,
        },
    )


def naive_influx(vm: VictoriaMetrics, path: Path, sample: int) -> float:
    """influxdb-client's usual path: a Point per stored reading, synchronous writes of 5,000."""
    from influxdb_client import InfluxDBClient, Point, WritePrecision
    from influxdb_client.client.write_api import SYNCHRONOUS

    start = time.perf_counter()
    with InfluxDBClient(url=vm.url, token="", org="bench") as client:
        write_api = client.write_api(write_options=SYNCHRONOUS)
        points: list[Any] = []
        with contextlib.closing(sqlite3.connect(path)) as db:
            cursor = db.execute(
                "SELECT r.seq, r.ts, c.name, r.value, r.quality FROM readings r"
                " JOIN channels c ON c.id = r.channel ORDER BY r.seq LIMIT ?",
                (sample,),
            )
            for seq, ts, channel, value, quality in cursor:
                device, _, quantity = channel.rpartition(".")
                points.append(
                    Point("reading")
                    .tag("site", "naive")
                    .tag("device", device)
                    .tag("channel", channel)
                    .tag("quantity", quantity)
                    .field("value", value)
                    .field("quality", quality)
                    .field("seq", seq)
                    .time(round(ts * 1000), WritePrecision.MS)
                )
                if len(points) == INFLUX_BATCH:
                    write_api.write(bucket="smartsite", record=points, write_precision=WritePrecision.MS)
                    points = []
        if points:
            write_api.write(bucket="smartsite", record=points, write_precision=WritePrecision.MS)
    return time.perf_counter() - start


# Figure 3: steady state at 10,000 readings/s


TICK_S = 0.01
TICK_READINGS = 100


def live_batches(ticks: int, start: float) -> list[SinkBatch]:
    channel = np.arange(TICK_READINGS, dtype=np.int32) % len(CHANNELS)
    quality = np.zeros(TICK_READINGS, np.uint8)
    value = np.round(20.0 + np.arange(TICK_READINGS) * 0.01, 3)
    return [
        SinkBatch(ReadingBatch(np.full(TICK_READINGS, start + i * TICK_S), channel, value, quality))
        for i in range(ticks)
    ]


async def produce(offer: Callable[[SinkBatch], object], batches: list[SinkBatch]) -> tuple[float, float]:
    """Offer one batch every 10 ms (no drift); returns (CPU s, wall s) of this process meanwhile."""
    cpu, wall = time.process_time(), time.perf_counter()
    for i, batch in enumerate(batches):
        delay = wall + i * TICK_S - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        offer(batch)
    return time.process_time() - cpu, time.perf_counter() - wall


async def steady(folder: Path, broker: Mosquitto, vm: VictoriaMetrics, sizes: Sizes) -> Figure:
    site = "steady"
    ticks = round(sizes.steady_s / TICK_S)
    total = ticks * TICK_READINGS

    # The producer alone, offering to nothing.
    alone = live_batches(round(sizes.producer_alone_s / TICK_S), time.time())
    alone_cpu, alone_wall = await produce(lambda batch: None, alone)
    producer_share = alone_cpu / alone_wall
    del alone

    path = folder / "steady.db"
    store = SqliteStore(path, CHANNELS, site=site, destinations=["mqtt", "influxdb"])
    sub = await Subscriber.start(broker.port, f"smartsite/{site}/telemetry")
    try:
        async with store:
            uplink = MqttUplink(
                MqttLink("127.0.0.1", broker.port), f"smartsite/{site}", store.channels, "bench-steady-up"
            )
            influx = InfluxDestination("influxdb", vm.url, None, "bench", "smartsite", site, store.channels)
            async with uplink, influx:
                if not await uplink.wait_connected(10):
                    raise RuntimeError("uplink did not connect")
                to_mqtt = Forwarder(uplink, store, ForwardStats("mqtt", "mqtt"), backlog_rate=10_000)
                to_influx = Forwarder(
                    influx, store, ForwardStats("influxdb", "influxdb"), backlog_rate=10_000
                )
                writer = StoreWriter(store, [to_mqtt, to_influx])
                tasks = [asyncio.create_task(t.run()) for t in (writer, to_mqtt, to_influx)]
                batches = live_batches(ticks, time.time())
                sqlite_before = thread_cpu_s("sqlite")
                cpu, wall = await produce(writer.offer, batches)
                sqlite_share = (thread_cpu_s("sqlite") - sqlite_before) / wall
                # Everything arrived? (Not timed: the steady state is the window above.)
                await writer.drain(30)
                await wait_queue_empty(store, "mqtt", 0.1)
                await wait_queue_empty(store, "influxdb", 0.1)
                for task in tasks:
                    await stop_task(task)
                mqtt_messages, influx_requests = uplink.messages_published, influx.requests
                sent = (to_mqtt.stats.sent, to_influx.stats.sent)
        received = total if await sub.wait_for(total, 30) else sub.count
    finally:
        await sub.stop()
    stored = await asyncio.to_thread(wait_for_samples, vm, f'reading_value{{site="{site}"}}', total)
    raw = cpu / wall
    net = raw - producer_share
    ours_per_reading = max(net, 0.0) * wall / total

    naive_cpu, naive_done, naive_wall = await naive_steady(folder, broker, batches, sizes.naive_steady_s)
    naive_per_reading = naive_cpu / naive_done
    arrived = received == total and stored == total and sent == (total, total)
    return Figure(
        "steady_10k_cpu",
        100.0 * net,
        100.0 * naive_per_reading * 10_000,
        naive_per_reading / ours_per_reading if ours_per_reading > 0 else math.inf,
        "% of one core (net)",
        "< 25 % of one core",
        net < 0.25 and arrived,
        {
            "readings": total,
            "seconds": round(wall, 2),
            "raw_percent": round(100.0 * raw, 2),
            "producer_alone_percent": round(100.0 * producer_share, 2),
            "net_percent": round(100.0 * net, 2),
            "sqlite_thread_percent": round(100.0 * sqlite_share, 2),
            "cpu_us_per_reading": round(ours_per_reading * 1e6, 3),
            "mqtt_messages": mqtt_messages,
            "influx_requests": influx_requests,
            "subscriber_readings": received,
            "victoria_metrics_samples": stored,
            "forwarded": {"mqtt": sent[0], "influxdb": sent[1]},
            "all_arrived": arrived,
            "baseline_readings": naive_done,
            "baseline_rate_per_s": round(naive_done / naive_wall),
            "baseline_cpu_us_per_reading": round(naive_per_reading * 1e6, 2),
            "baseline_note": "baseline column: CPU % one core would need at 10,000 readings/s",
        },
    )


async def naive_steady(
    folder: Path, broker: Mosquitto, batches: list[SinkBatch], seconds: float
) -> tuple[float, int, float]:
    """One INSERT + commit and one QoS 1 publish per reading, flat out; (CPU s, readings, wall s)."""
    from drivers.store_schema import SCHEMA

    rows = [
        (t, int(c) + 1, v, int(q))
        for b in batches[: round(seconds * 20_000 / TICK_READINGS)]
        for t, c, v, q in zip(
            b.readings.ts.tolist(),
            b.readings.channel.tolist(),
            b.readings.value.tolist(),
            b.readings.quality.tolist(),
            strict=True,
        )
    ]
    topic = "smartsite/naive/telemetry"
    with contextlib.closing(sqlite3.connect(folder / "naive.db")) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        db.executemany("INSERT INTO channels(id, name) VALUES (?, ?)", list(enumerate(CHANNELS, 1)))
        db.commit()
        async with MqttLink("127.0.0.1", broker.port).client(identifier="bench-naive-steady") as client:
            cpu, wall = time.process_time(), time.perf_counter()
            done = 0
            for ts, channel, value, quality in rows:
                cursor = db.execute(
                    "INSERT INTO readings(ts, channel, value, quality) VALUES (?,?,?,?)",
                    (ts, channel, value, quality),
                )
                db.commit()
                body = {
                    "seq": cursor.lastrowid,
                    "ts": iso_ms(ts),
                    "channel": CHANNELS[channel - 1],
                    "value": value,
                    "quality": quality,
                }
                await client.publish(topic, json.dumps(body), qos=1)
                done += 1
                if time.perf_counter() - wall >= seconds:
                    break
            return time.process_time() - cpu, done, time.perf_counter() - wall


# Figure 4: crash recovery


def site_yaml(site: str, port: int, api_port: int, db: Path) -> str:
    devices = "\n".join(
        f"  - id: s{d}\n    type: mqtt\n    channels: {{"
        + ", ".join(f"q{q}: {{unit: mm}}" for q in range(QUANTITIES))
        + "}"
        for d in range(DEVICES)
    )
    return f"""
site: {{id: {site}}}
mqtt: {{url: "mqtt://127.0.0.1:{port}", client_id: {site}-gateway-in}}
devices:
{devices}
rules:
  - id: s0_q0_high
    type: threshold
    channels: [s0.q0]
    upper: {{yellow: 10.0}}
    hysteresis: 1.0
sinks:
  - type: sqlite
    path: {db}
  - type: mqtt
    broker: mqtt://127.0.0.1:{port}
api: {{port: {api_port}}}
"""


def prepare(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "site.yaml"


def open_log(path: Path) -> IO[bytes]:
    return path.open("ab")


def log_tail(folder: Path) -> str:
    return (folder / "gateway.log").read_text(errors="replace")[-3000:]


async def first_telemetry(folder: Path, site: str, backlog: int) -> tuple[float, int, bool]:
    """Start ``smartsite run`` on a store holding ``backlog`` readings.

    Returns the seconds from process start to the first telemetry message, the store's size and
    whether that message carried live readings (else backlog).
    """
    db = folder / "site.db"
    config = prepare(folder)
    if backlog:
        store = SqliteStore(db, CHANNELS, site=site, destinations=["mqtt"])
        async with store:
            await fill(store, backlog)
            pending = (await store.pending("mqtt")).records
        assert pending == backlog, pending
    size = store_bytes(db)
    broker = started_broker(folder / "broker")
    config.write_text(site_yaml(site, broker.port, free_port(), db))
    sub = await Subscriber.start(broker.port, f"smartsite/{site}/telemetry")
    log = open_log(folder / "gateway.log")
    proc: asyncio.subprocess.Process | None = None
    try:
        async with MqttLink("127.0.0.1", broker.port).client(identifier=f"{site}-sensor") as sensor:
            start = time.time()
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "smartsite.cli",
                "run",
                "--config",
                str(config),
                cwd=folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_env(),
            )
            # One reading every 100 ms to the gateway's input broker until the first telemetry.
            while sub.first is None and proc.returncode is None and time.time() - start < DEADLINE_S:
                body = json.dumps({"ts": round(time.time(), 3), "values": {"q0": 1.0}})
                await sensor.publish(f"smartsite/{site}/devices/s0/up", body, qos=1)
                await sub.wait_first(0.1)
            first = sub.first
    finally:
        if proc is not None:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()
        await sub.stop()
        broker.stop()
    if first is None:
        raise RuntimeError(f"no telemetry (gateway log):\n{log_tail(folder)}")
    return first - start, size, sub.first_live


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


async def recovery(folder: Path, sizes: Sizes) -> Figure:
    backlog_times: list[float] = []
    empty_times: list[float] = []
    size = 0
    first_was: list[str] = []
    for run in range(sizes.recovery_runs):
        empty_s, _, _ = await first_telemetry(folder / f"empty{run}", "recovery", 0)
        empty_times.append(empty_s)
        backlog_s, size, live = await first_telemetry(
            folder / f"backlog{run}", "recovery", sizes.recovery_backlog
        )
        backlog_times.append(backlog_s)
        first_was.append("live" if live else "backlog")
    ours, empty = statistics.median(backlog_times), statistics.median(empty_times)
    return Figure(
        "crash_recovery_first_forward",
        ours,
        empty,
        ours / empty,
        "s to first telemetry (backlog / empty)",
        "< 5 s with a 1,000,000-reading backlog",
        ours < 5.0 and sizes.recovery_backlog >= 1_000_000,
        {
            "backlog_readings": sizes.recovery_backlog,
            "store_bytes": size,
            "backlog_runs_s": [round(t, 3) for t in backlog_times],
            "empty_runs_s": [round(t, 3) for t in empty_times],
            "backlog_runs_first_message": first_was,
        },
    )


# Running


async def collect(sizes: Sizes, folder: Path) -> list[Figure]:
    figures = []
    broker = started_broker(folder / "broker")
    vm = started_victoria(folder / "vm")
    try:
        note("figure 1: backlog drain to mosquitto")
        figures.append(await drain_mqtt(folder, broker, sizes))
        note("figure 2: backlog drain to VictoriaMetrics")
        figures.append(await drain_influx(folder, vm, sizes))
        note(f"figure 3: steady state, {sizes.steady_s:g} s at 10,000 readings/s")
        figures.append(await steady(folder, broker, vm, sizes))
    finally:
        broker.stop()
        vm.stop()
    note(f"figure 4: crash recovery, {sizes.recovery_runs} run(s) each")
    figures.append(await recovery(folder / "recovery", sizes))
    return figures


def _num(value: float, width: int = 12) -> str:
    if not math.isfinite(value):
        return f"{'n/a':>{width}}"
    return f"{value:>{width},.2f}" if abs(value) < 1000 else f"{value:>{width},.0f}"


def print_table(figures: list[Figure], quick: bool) -> None:
    print(f"store and forward{' (quick sizes)' if quick else ''}")
    print(f"{'figure':30} {'ours':>12} {'baseline':>12} {'ratio':>9}  {'met':4} unit; target")
    for f in figures:
        print(
            f"{f.name:30} {_num(f.value)} {_num(f.baseline)} {_num(f.ratio, 8)}x  "
            f"{'yes' if f.met else 'NO':4} {f.unit}; {f.target}"
        )
    for f in figures:
        print(f"  {f.name}: " + ", ".join(f"{k}={v}" for k, v in f.details.items()))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller run (about a minute)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--subscriber", nargs=2, metavar=("PORT", "TOPIC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.subscriber:
        with contextlib.suppress(KeyboardInterrupt, aiomqtt.MqttError):
            asyncio.run(_subscriber_main(int(args.subscriber[0]), args.subscriber[1]))
        return 0
    sizes = Sizes.quick() if args.quick else Sizes()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-store-forward-") as tmp:
        figures = asyncio.run(collect(sizes, Path(tmp)))
    took = time.perf_counter() - started
    if args.json:
        print(
            json.dumps(
                {"quick": args.quick, "seconds": round(took, 1), "results": [f.to_dict() for f in figures]}
            )
        )
    else:
        print_table(figures, args.quick)
        print(f"total {took:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
