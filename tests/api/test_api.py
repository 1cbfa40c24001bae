"""The HTTP API in-process: views over a runtime fed with readings, and the role checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api import create_app
from gateway.config import parse_config
from gateway.models import ReadingBatch
from gateway.runtime import Runtime

SITE = """
site: {id: s1}
devices:
  - id: anemo1
    type: mqtt
    channels: {wind_speed: {unit: m/s, range: [0, 60]}}
  - id: pit.P1
    type: mqtt
    channels: {disp_h: {unit: mm}}
rules:
  - {id: wind, type: threshold, channels: [anemo1.wind_speed], upper: {yellow: 10, red: 20}, hysteresis: 1}
api:
  anonymous_role: %s
  tokens:
    - {role: viewer, env: T_VIEWER}
    - {role: admin, env: T_ADMIN}
"""


def make_runtime(tmp_path: Path, anonymous: str) -> Runtime:
    return Runtime(parse_config(SITE % anonymous), base_dir=tmp_path)


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_VIEWER", "view-secret")
    monkeypatch.setenv("T_ADMIN", "admin-secret")


async def client_for(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield client


@pytest.fixture
async def open_client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    runtime = make_runtime(tmp_path, "viewer")
    async for client in client_for(runtime):
        yield client, runtime


@pytest.fixture
async def closed_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(make_runtime(tmp_path, "none")):
        yield client


async def test_channels_show_latest_value_and_grade(open_client: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, runtime = open_client
    before = (await client.get("/api/v1/channels")).json()
    assert [c["id"] for c in before] == ["anemo1.wind_speed", "pit.P1.disp_h"]
    assert before[0]["value"] is None and before[0]["ts"] is None and before[0]["grade"] == 0

    runtime.pipeline.process(
        ReadingBatch.from_lists([100.0, 101.0, 100.5], [0, 0, 1], [5.0, 12.0, 3.5], [0, 0, 0])
    )
    after = {c["id"]: c for c in (await client.get("/api/v1/channels")).json()}
    wind = after["anemo1.wind_speed"]
    assert (wind["value"], wind["grade"], wind["unit"], wind["quality"]) == (12.0, 1, "m/s", "good")
    assert wind["ts"] == "1970-01-01T00:01:41.000Z"
    assert after["pit.P1.disp_h"]["value"] == 3.5 and after["pit.P1.disp_h"]["device"] == "pit.P1"


async def test_alarms_list_active_then_cleared(open_client: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, runtime = open_client
    runtime.pipeline.process(ReadingBatch.from_lists([1.0, 2.0, 3.0, 4.0], [0] * 4, [12, 8, 25, 12], [0] * 4))
    alarms = (await client.get("/api/v1/alarms")).json()
    assert [(a["state"], a["active"]) for a in alarms] == [("deescalated", True), ("cleared", False)]
    assert alarms[0]["max_grade"] == 3 and alarms[0]["grade"] == 1
    assert [a["state"] for a in (await client.get("/api/v1/alarms?status=cleared")).json()] == ["cleared"]
    assert len((await client.get("/api/v1/alarms?status=active")).json()) == 1
    assert (await client.get("/api/v1/alarms?status=bogus")).status_code == 422
    assert (await client.get("/api/v1/alarms?limit=0")).status_code == 422


async def test_bad_readings_show_as_bad_not_alarmed(open_client: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, runtime = open_client
    runtime.pipeline.process(ReadingBatch.from_lists([1.0, 2.0], [0, 0], [float("nan"), 99.0], [0, 0]))
    wind = (await client.get("/api/v1/channels")).json()[0]
    assert wind["quality"] == "bad_range" and wind["grade"] == 0
    assert (await client.get("/api/v1/alarms")).json() == []
    health = (await client.get("/api/v1/health")).json()
    assert health["rejected"] == {"non_finite": 1, "out_of_range": 1}


async def test_health_is_open_and_dashboard_served(closed_client: httpx.AsyncClient) -> None:
    assert (await closed_client.get("/api/v1/health")).status_code == 200
    page = await closed_client.get("/")
    assert page.status_code == 200 and "/api/v1/channels" in page.text
    spec = (await closed_client.get("/api/v1/openapi.json")).json()
    assert {"/api/v1/health", "/api/v1/channels", "/api/v1/alarms"} <= set(spec["paths"])


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": "Basic dmlldzp4"}, 401),
        ({"Authorization": "Bearer"}, 401),
        ({"Authorization": "Bearer view-secret"}, 200),
        ({"Authorization": "Bearer admin-secret"}, 200),
    ],
)
async def test_tokens_required_when_anonymous_is_none(
    closed_client: httpx.AsyncClient, headers: dict[str, str], status: int
) -> None:
    for path in ("/api/v1/channels", "/api/v1/alarms"):
        response = await closed_client.get(path, headers=headers)
        assert response.status_code == status, path
        if status == 401:
            assert response.headers["www-authenticate"] == "Bearer"


async def test_role_below_the_minimum_is_forbidden(tmp_path: Path) -> None:
    from fastapi import Depends

    from api.auth import require

    app = create_app(make_runtime(tmp_path, "viewer"))

    @app.post("/test-only/act", dependencies=[Depends(require("supervisor"))])
    def act() -> dict[str, bool]:
        return {"done": True}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        assert (await client.post("/test-only/act")).status_code == 403
        viewer = {"Authorization": "Bearer view-secret"}
        assert (await client.post("/test-only/act", headers=viewer)).status_code == 403
        admin = {"Authorization": "Bearer admin-secret"}
        assert (await client.post("/test-only/act", headers=admin)).json() == {"done": True}
