"""Figure 'pushes': from a raised alarm event to the first push accepted by a local webhook.

The core path is the real one: the alarm desk saves the record and its audit entry, the durable
outbox stores the notice, its dispatcher renders and POSTs it (httpx) to a webhook receiver on
127.0.0.1. The baseline is the least a gateway could do: POST each event straight away, with nothing
stored. Both run at the same rate in the same process, one after the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from pathlib import Path

import httpx

from drivers.alarm_store import AlarmStore
from drivers.mqtt_link import MqttLink
from gateway.alarms.desk import AlarmDesk
from gateway.alarms.pushes import Pushes
from gateway.config.alarm_handling import AlarmsConfig, TierConfig, WebhookReceiver
from gateway.vocab import AlarmEvent

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"


class Receiver:
    """A minimal HTTP receiver that notes when each alarm id first arrived."""

    def __init__(self) -> None:
        self.first_seen: dict[str, float] = {}
        self.expected = 0
        self.all_arrived = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = json.loads(await reader.readexactly(length))
                now = time.perf_counter()
                for alarm_id in _alarm_ids(body):
                    self.first_seen.setdefault(alarm_id, now)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


def _alarm_ids(body: object) -> list[str]:
    if isinstance(body, dict) and "notices" in body:
        return [n["alarm"]["id"] for n in body["notices"]]
    if isinstance(body, dict) and "alarm_id" in body:
        return [str(body["alarm_id"])]
    return []


def _event(i: int) -> AlarmEvent:
    return AlarmEvent(
        site="bench", ts=time.time(), channel=f"dev{i % 50}.disp", rule="disp", grade=2, state="raised",
        value=25.0, limit=21.0, unit="mm", message="bench", alarm_id=f"a{i:06d}",
    )  # fmt: skip


async def _paced(count: int, rate: float, fire: object) -> dict[str, float]:
    """Call ``fire(i)`` ``count`` times at ``rate`` per second; returns the start time of each."""
    started: dict[str, float] = {}
    t0 = time.perf_counter()
    for i in range(count):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        started[f"a{i:06d}"] = time.perf_counter()
        await fire(i)  # type: ignore[operator]
    return started


def _p99_ms(started: dict[str, float], seen: dict[str, float]) -> tuple[float, int]:
    latencies = sorted(seen[k] - t for k, t in started.items() if k in seen)
    if not latencies:
        return float("nan"), 0
    return latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000.0, len(latencies)


async def _core(count: int, rate: float, group_window_s: float, folder: Path) -> tuple[float, int]:
    async with Receiver() as receiver:
        config = AlarmsConfig(
            group_window_s=group_window_s,
            tiers=[TierConfig(name="officer", receivers=["hook"])],
            receivers=[WebhookReceiver(id="hook", type="webhook", url=f"http://127.0.0.1:{receiver.port}/")],
        )

        def no_broker(_url: str | None) -> MqttLink:
            raise RuntimeError("no MQTT receiver in this bench")

        async with Pushes(config, folder / "alarms.db", no_broker, "smartsite/bench") as pushes:
            store = AlarmStore(folder / "alarms.db")
            async with AlarmDesk("bench", config, store, {}, pushes.outbox.enqueue) as desk:

                async def fire(i: int) -> None:
                    await desk.apply(_event(i))

                receiver.expected = count
                started = await _paced(count, rate, fire)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(receiver.all_arrived.wait(), 30)
        return _p99_ms(started, receiver.first_seen)


async def _baseline(count: int, rate: float) -> tuple[float, int]:
    async with Receiver() as receiver, httpx.AsyncClient(timeout=5) as client:
        url = f"http://127.0.0.1:{receiver.port}/"
        pending: set[asyncio.Task[httpx.Response]] = set()

        async def fire(i: int) -> None:
            task = asyncio.create_task(client.post(url, content=_event(i).to_json()))
            pending.add(task)
            task.add_done_callback(pending.discard)

        started = await _paced(count, rate, fire)
        if pending:
            await asyncio.wait(pending, timeout=30)
        return _p99_ms(started, receiver.first_seen)


def push_latency(count: int, rate: float = 100.0, group_window_s: float = 0.1) -> dict[str, float]:
    """p99 latency (ms) of the core path and the baseline, and how many arrived."""
    with tempfile.TemporaryDirectory(prefix="smartsite-bench-pushes-") as folder:
        core_p99, core_n = asyncio.run(_core(count, rate, group_window_s, Path(folder)))
    base_p99, base_n = asyncio.run(_baseline(count, rate))
    return {
        "core_p99_ms": core_p99,
        "core_arrived": core_n,
        "baseline_p99_ms": base_p99,
        "baseline_arrived": base_n,
    }
