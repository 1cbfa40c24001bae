"""Hostile requests: no role, huge bodies, non-strict JSON, silent and slow connections."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from api import create_app
from api.connections import GuardedH11Protocol
from api.guard import MAX_BODY_BYTES, strict_json_problem
from api.server import ApiServer, bind_socket
from gateway.config import parse_config
from gateway.runtime import Runtime
from tests.api.sites import api_client, api_section, bearer, raise_wind_alarm, set_tokens, wind_site

TOKENS = {"G_VIEWER": ("viewer", "view-secret"), "G_SUPERVISOR": ("supervisor", "sup-secret")}
SITE = wind_site(api_section("none", TOKENS))
SUPERVISOR = bearer("sup-secret")
VIEWER = bearer("view-secret")


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    set_tokens(monkeypatch, TOKENS)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    runtime = Runtime(parse_config(SITE), base_dir=tmp_path)
    async with api_client(runtime) as c:
        yield c, await raise_wind_alarm(runtime, c, headers=VIEWER)


async def test_anonymous_change_is_401_before_the_body_is_read(client: tuple[httpx.AsyncClient, str]) -> None:
    c, alarm_id = client
    for body in (b"{not json", b"x" * (MAX_BODY_BYTES * 4)):
        answer = await c.post(f"/api/v1/alarms/{alarm_id}/ack", content=body)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
    viewer = await c.post(f"/api/v1/alarms/{alarm_id}/ack", content=b"{not json", headers=VIEWER)
    assert viewer.status_code == 403
    wrong = await c.post(f"/api/v1/alarms/{alarm_id}/ack", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


async def test_too_large_body_is_413(client: tuple[httpx.AsyncClient, str]) -> None:
    c, alarm_id = client
    answer = await c.post(
        f"/api/v1/alarms/{alarm_id}/ack",
        content=b'{"note": "' + b"x" * MAX_BODY_BYTES + b'"}',
        headers=SUPERVISOR,
    )
    assert answer.status_code == 413
    assert "larger than" in answer.json()["detail"]


def _chunks() -> Iterator[bytes]:
    yield b'{"note": "'
    for _ in range(MAX_BODY_BYTES // 1000 + 2):
        yield b"y" * 1000
    yield b'"}'


async def test_chunked_body_past_the_limit_is_413(client: tuple[httpx.AsyncClient, str]) -> None:
    c, alarm_id = client

    async def chunked() -> AsyncIterator[bytes]:
        for chunk in _chunks():
            yield chunk

    answer = await c.post(f"/api/v1/alarms/{alarm_id}/ack", content=chunked(), headers=SUPERVISOR)
    assert answer.status_code == 413


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"note": NaN}', "NaN"),
        (b'{"note": Infinity}', "Infinity"),
        (b'{"note": -Infinity}', "Infinity"),
        (b'{"note": 1e309}', "out of range"),
        (b'{"note": "\\ud800"}', "surrogate"),
        (b'{"note": "\xff\xfe"}', "not UTF-8"),
        (b'{"note": ', "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "deeply"),
    ],
)
async def test_non_strict_json_is_422_and_the_list_stays_up(
    client: tuple[httpx.AsyncClient, str], body: bytes, why: str
) -> None:
    c, alarm_id = client
    answer = await c.post(
        f"/api/v1/alarms/{alarm_id}/ack",
        content=body,
        headers={**SUPERVISOR, "Content-Type": "application/json"},
    )
    assert answer.status_code in (413, 422)
    if answer.status_code == 422:
        assert why in answer.json()["detail"]
    listing = await c.get("/api/v1/alarms", headers=VIEWER)
    assert listing.status_code == 200
    assert listing.json()[0]["acknowledged_by"] is None  # the refused body changed nothing


async def test_validation_errors_have_the_documented_shape(client: tuple[httpx.AsyncClient, str]) -> None:
    c, alarm_id = client
    answer = await c.post(f"/api/v1/alarms/{alarm_id}/assign", json={"assignee": 12}, headers=SUPERVISOR)
    assert answer.status_code == 422
    for error in answer.json()["detail"]:
        assert set(error) == {"loc", "msg", "type"}
    # Strict JSON passes on to the route untouched.
    ok = await c.post(f"/api/v1/alarms/{alarm_id}/ack", json={"note": "on my way 1.5e3"}, headers=SUPERVISOR)
    assert ok.status_code == 200


def test_strict_json_accepts_ordinary_documents() -> None:
    assert strict_json_problem(b'{"a": [1, 2.5, -3e10, "\xe5\xb7\xa5\xe5\x9c\xb0", null, true]}') is None
    assert strict_json_problem(b'"\\ud83d\\ude00"') is None  # a surrogate pair is a real emoji


# --- real connections -----------------------------------------------------------------------------


@pytest.fixture
async def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[int, ApiServer]]:
    monkeypatch.setattr(GuardedH11Protocol, "client_timeout_s", 1.0)
    runtime = Runtime(parse_config(SITE), base_dir=tmp_path)
    sock = bind_socket("127.0.0.1", 0)
    api = ApiServer(create_app(runtime), sock, max_connections=20)
    task = asyncio.create_task(api.run())
    try:
        deadline = time.monotonic() + 10
        while not api.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            await asyncio.sleep(0.02)
        yield sock.getsockname()[1], api
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        sock.close()


async def _closed_by_server(reader: asyncio.StreamReader, within_s: float) -> bool:
    try:
        data = await asyncio.wait_for(reader.read(4096), within_s)
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return data == b"" or data.startswith(b"HTTP/1.1 4")


async def test_silent_and_slow_clients_are_disconnected(server: tuple[int, ApiServer]) -> None:
    port, _ = server
    closed_before = GuardedH11Protocol.closed_idle
    silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(15)]
    slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", port)
    slow_writer.write(b"POST /api/v1/alarms/x/ack HTTP/1.1\r\nHost: gw\r\n")  # headers never finish
    await slow_writer.drain()
    results = await asyncio.gather(
        *(_closed_by_server(r, 5.0) for r, _ in [*silent, (slow_reader, slow_writer)])
    )
    assert all(results)
    assert GuardedH11Protocol.closed_idle - closed_before >= 16
    for _, writer in [*silent, (slow_reader, slow_writer)]:
        writer.close()
    async with httpx.AsyncClient() as c:  # and the server still answers
        assert (await c.get(f"http://127.0.0.1:{port}/api/v1/health", headers=VIEWER)).status_code == 200


async def test_connections_beyond_the_cap_get_503(server: tuple[int, ApiServer]) -> None:
    port, _ = server
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(25)]
    try:
        await asyncio.sleep(0.1)
        async with httpx.AsyncClient() as c:
            answer = await c.get(f"http://127.0.0.1:{port}/api/v1/health", headers=VIEWER)
        assert answer.status_code == 503
    finally:
        for _, writer in held:
            writer.close()
