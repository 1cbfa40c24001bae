"""The live stream against a real uvicorn on a free loopback port, read by a real HTTP client."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api import create_app
from api.routes import events as events_route
from api.server import ApiServer, bind_socket
from gateway.config import parse_config
from gateway.runtime import Runtime
from gateway.vocab import ReadingBatch, SinkBatch
from tests.api.sse_client import EventReader, events
from tests.support import eventually

SITE = """
site: {id: s1}
devices:
  - id: anemo1
    type: mqtt
    period_s: 1
    channels: {wind_speed: {unit: m/s, range: [0, 60], resolution: 0.1}}
  - id: pit.P3
    type: mqtt
    channels: {disp_h: {unit: mm, resolution: 0.5}}
rules:
  - {id: wind, type: threshold, channels: [anemo1.wind_speed], upper: {yellow: 10, red: 20}, min_hold_s: 0}
api:
  anonymous_role: none
  users:
    - {name: 王芳, role: viewer, token_env: E_WANG}
    - {name: Zhao Lei, role: supervisor, token_env: E_ZHAO}
"""
WANG = {"Authorization": "Bearer wang-secret"}
ZHAO = {"Authorization": "Bearer zhao-secret"}
T0 = 1_800_000_000.0


class Gateway:
    def __init__(self, runtime: Runtime, url: str) -> None:
        self.runtime = runtime
        self.url = url
        self.client = httpx.AsyncClient(base_url=url, timeout=10)

    async def feed(self, ts: list[float], col: list[int], values: list[float]) -> None:
        batch = ReadingBatch.from_lists(ts, col, values, [0] * len(ts))
        out = SinkBatch(batch, tuple(self.runtime.pipeline.process(batch)))
        await self.runtime.desk.write(out)
        await self.runtime.live.write(out)


@contextlib.asynccontextmanager
async def serve(runtime: Runtime) -> AsyncIterator[str]:
    sock = bind_socket("127.0.0.1", 0)
    server = ApiServer(create_app(runtime), sock)
    task = asyncio.create_task(server.run())
    try:
        await eventually(lambda: server.started, 10, "uvicorn to start")
        yield server.url
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        sock.close()


@pytest.fixture
async def gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    monkeypatch.setenv("E_WANG", "wang-secret")
    monkeypatch.setenv("E_ZHAO", "zhao-secret")
    runtime = Runtime(parse_config(SITE), base_dir=tmp_path, clock=lambda: T0 + 5)
    async with runtime.desk, runtime.live, serve(runtime) as url:
        gateway = Gateway(runtime, url)
        async with gateway.client:
            yield gateway


async def test_hello_then_readings_decimated_to_each_clients_rate(gw: Gateway) -> None:
    async with (
        contextlib.aclosing(events(gw.client, "/api/v1/events?rate=1", WANG)) as slow_gen,
        contextlib.aclosing(events(gw.client, "/api/v1/events?rate=10", WANG)) as fast_gen,
    ):
        slow, fast = await anext(slow_gen), await anext(fast_gen)
        hello = await slow.until("hello")
        assert hello.data["rate"] == 1.0 and hello.data["site"] == "s1" and hello.id is None
        assert slow.retry == 3000
        assert (await fast.until("hello")).data["rate"] == 10.0
        # 10 readings a second on each channel for 10 s of data time, one message at a time.
        for i in range(101):
            await gw.feed([T0 + 0.1 * i, T0 + 0.1 * i], [0, 1], [5.0 + 0.0123 * i, 1.26])
        got: dict[str, list[dict[str, object]]] = {"slow": [], "fast": []}
        for name, reader, want in (("slow", slow, 22), ("fast", fast, 202)):
            while len(got[name]) < want:
                got[name] += (await reader.until("readings")).data["readings"]
    slow_wind = [r for r in got["slow"] if r["channel"] == "anemo1.wind_speed"]
    assert len(slow_wind) == 11  # once a second of data time: t = 0, 1, ..., 10
    assert [r["ts"] for r in slow_wind][:2] == ["2027-01-15T08:00:00.000Z", "2027-01-15T08:00:01.000Z"]
    assert slow_wind[1]["value"] == 5.1  # 5.123 to the channel's 0.1
    assert {r["value"] for r in got["slow"] if r["channel"] == "pit.P3.disp_h"} == {1.5}  # to 0.5 mm
    assert len([r for r in got["fast"] if r["channel"] == "anemo1.wind_speed"]) == 101


async def test_alarm_changes_and_peoples_actions_reach_the_stream(gw: Gateway) -> None:
    async with contextlib.aclosing(events(gw.client, "/api/v1/events", WANG)) as gen:
        reader = await anext(gen)
        await reader.until("hello")
        await gw.feed([T0], [0], [25.0])
        raised = await reader.until("alarm_event")
        assert (raised.data["state"], raised.data["grade"], raised.data["channel"]) == (
            "raised",
            3,
            "anemo1.wind_speed",
        )
        assert raised.id is not None
        alarm_id = raised.data["alarm_id"]
        acked = await gw.client.post(f"/api/v1/alarms/{alarm_id}/ack", headers=ZHAO, json={"note": "going"})
        assert acked.status_code == 200
        change = await reader.until("alarm")
        assert change.data["id"] == alarm_id and change.data["acknowledged_by"] == "Zhao Lei"
        assert int(change.id.rpartition("-")[2]) > int(raised.id.rpartition("-")[2])  # type: ignore[union-attr]


async def test_last_event_id_resumes_with_what_was_missed(gw: Gateway) -> None:
    feed = gw.runtime.live
    async with contextlib.aclosing(events(gw.client, "/api/v1/events", WANG)) as gen:
        reader = await anext(gen)
        await reader.until("hello")
        feed.publish("cycle", {"n": 1})
        seen = await reader.until("cycle")
    await eventually(lambda: feed.clients == 0, 5, "the first client to be gone")
    for n in (2, 3, 4):
        feed.publish("cycle", {"n": n})
    again = {**WANG, "Last-Event-ID": seen.id or ""}
    async with contextlib.aclosing(events(gw.client, "/api/v1/events", again)) as gen:
        reader = await anext(gen)
        assert (await reader.until("hello")).data["resumed_from"] == seen.id
        missed = [await reader.until("cycle") for _ in range(3)]
        assert [e.data["n"] for e in missed] == [2, 3, 4]
        feed.publish("cycle", {"n": 5})
        assert (await reader.until("cycle")).data["n"] == 5
    for stale in ("00000-1", "nonsense"):
        async with contextlib.aclosing(
            events(gw.client, "/api/v1/events", {**WANG, "Last-Event-ID": stale})
        ) as gen:
            reader = await anext(gen)
            assert (await reader.until("reset")).data["reason"] == "restarted"


async def test_resuming_past_the_bounded_history_is_a_reset(gw: Gateway) -> None:
    feed = gw.runtime.live
    first = feed.publish("cycle", {"n": 0})
    for n in range(2500):  # more than the history keeps
        feed.publish("cycle", {"n": n})
    async with contextlib.aclosing(
        events(gw.client, "/api/v1/events", {**WANG, "Last-Event-ID": first.id or ""})
    ) as gen:
        reader = await anext(gen)
        assert (await reader.until("reset")).data["reason"] == "too_old"


async def test_pings_keep_an_idle_stream_alive(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_route, "PING_S", 0.1)
    async with contextlib.aclosing(events(gw.client, "/api/v1/events", WANG)) as gen:
        reader = await anext(gen)
        await reader.until("hello")
        # Nothing for five ping periods, then an event: the read passes the pings sent meanwhile.
        asyncio.get_running_loop().call_later(0.5, gw.runtime.live.publish, "cycle", {"n": 1})
        await reader.until("cycle")
        assert reader.pings >= 1


async def test_device_state_changes_are_streamed(gw: Gateway) -> None:
    async with contextlib.aclosing(events(gw.client, "/api/v1/events", WANG)) as gen:
        reader = await anext(gen)
        await reader.until("hello")
        await gw.feed([T0 + 4.5], [0], [3.0])
        device = await reader.until("device", within_s=5)
        assert device.data["id"] == "anemo1" and device.data["state"] == "ok"


async def test_bad_requests_are_refused(gw: Gateway) -> None:
    assert (await gw.client.get("/api/v1/events")).status_code == 401
    assert (
        await gw.client.get("/api/v1/events", headers={"Authorization": "Bearer nope"})
    ).status_code == 401
    for rate in ("0", "11", "nan", "fast"):
        assert (await gw.client.get(f"/api/v1/events?rate={rate}", headers=WANG)).status_code == 422
    long_id = {**WANG, "Last-Event-ID": "x" * 101}
    assert (await gw.client.get("/api/v1/events", headers=long_id)).status_code == 422
    async with contextlib.aclosing(events(gw.client, "/api/v1/events?rate=3", WANG)) as gen:
        assert (await (await anext(gen)).until("hello")).data["rate"] == 2.0  # taken down to 2


async def test_a_client_that_never_reads_is_dropped_and_slows_nothing(gw: Gateway) -> None:
    feed = gw.runtime.live
    port = int(gw.url.rsplit(":", 1)[1])
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", port))
    stuck.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer wang-secret\r\n\r\n")
    try:
        await eventually(lambda: feed.clients == 1, 5, "the stuck client to subscribe")
        async with contextlib.aclosing(events(gw.client, "/api/v1/events", WANG)) as gen:
            reader = await anext(gen)
            await reader.until("hello")
            padding = "x" * 2000
            slowest = 0.0
            for n in range(3000):  # ~6 MB: far more than the stuck client's buffers hold
                began = time.perf_counter()
                feed.publish("cycle", {"n": n, "padding": padding})
                slowest = max(slowest, time.perf_counter() - began)
                if n % 50 == 0:
                    await asyncio.sleep(0)  # let the server write
                    while (event := await reader.next()).kind != "cycle" or event.data["n"] < n:
                        pass
            await eventually(lambda: feed.dropped_clients == 1, 10, "the stuck client to be dropped")
            assert feed.clients == 1  # the reading client is still there
            assert slowest < 0.05  # publishing never waited for anyone (a bound, not a benchmark)
            feed.publish("cycle", {"n": -1})
            assert (await reader.until("cycle")).data["n"] in range(-1, 3000)
        stuck.setblocking(False)
        # The stuck connection was cut: what is left in the buffers ends in a close.
        await eventually(lambda: _closed(stuck), 10, "the stuck connection to be closed")
    finally:
        stuck.close()
    assert (await gw.client.get("/api/v1/health")).status_code == 200


def _closed(sock: socket.socket) -> bool:
    try:
        while chunk := sock.recv(65536):
            del chunk
        return True  # b"": closed
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


async def test_a_gateway_not_running_says_so_and_ends_the_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E_WANG", "wang-secret")
    monkeypatch.setenv("E_ZHAO", "zhao-secret")
    runtime = Runtime(parse_config(SITE), base_dir=tmp_path)
    async with (
        serve(runtime) as url,
        httpx.AsyncClient(base_url=url) as client,
        contextlib.aclosing(events(client, "/api/v1/events", WANG)) as gen,
    ):
        reader: EventReader = await anext(gen)
        assert (await reader.next()).kind == "closed"
        with pytest.raises(EOFError):
            await reader.next()
