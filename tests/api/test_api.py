"""The HTTP API in-process: views over a runtime fed with readings, and the role checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api import create_app
from gateway.config import parse_config
from gateway.runtime import Runtime
from gateway.vocab import ReadingBatch
from tests.api.sites import api_client, api_section, feed, set_tokens, wind_site

TOKENS = {"T_VIEWER": ("viewer", "view-secret"), "T_ADMIN": ("admin", "admin-secret")}
USERS = {"T_LI_GONG": ("Li Gong", "supervisor", "li-gong-secret")}
SITE = wind_site(
    api_section("%s", TOKENS, USERS),
    devices="""\
  - id: pit.P1
    type: mqtt
    channels: {disp_h: {unit: mm}}
""",
    # min_hold_s 0: these tests follow clears and reopens reading by reading (the dwell is tested apart)
    rules="""\
  - {id: wind, type: threshold, channels: [anemo1.wind_speed], upper: {yellow: 10, red: 20}, hysteresis: 1,
     min_hold_s: 0}
""",
)


def make_runtime(tmp_path: Path, anonymous: str) -> Runtime:
    return Runtime(parse_config(SITE % anonymous), base_dir=tmp_path)


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    set_tokens(monkeypatch, TOKENS, USERS)


async def client_for(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(runtime) as client:
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
    # The second raise comes after the reopen window (600 s): two alarms.
    await feed(runtime, ReadingBatch.from_lists([1.0, 2.0, 903.0, 904.0], [0] * 4, [12, 8, 25, 12], [0] * 4))
    alarms = (await client.get("/api/v1/alarms")).json()
    assert [(a["state"], a["active"]) for a in alarms] == [("deescalated", True), ("cleared", False)]
    assert alarms[0]["max_grade"] == 3 and alarms[0]["grade"] == 1
    assert [a["state"] for a in (await client.get("/api/v1/alarms?state=cleared")).json()] == ["cleared"]
    assert len((await client.get("/api/v1/alarms?state=active")).json()) == 1
    assert (await client.get("/api/v1/alarms?state=bogus")).status_code == 422
    assert (await client.get("/api/v1/alarms?limit=0")).status_code == 422


async def test_bad_readings_show_as_bad_not_alarmed(open_client: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, runtime = open_client
    await feed(runtime, ReadingBatch.from_lists([1.0, 2.0], [0, 0], [float("nan"), 99.0], [0, 0]))
    wind = (await client.get("/api/v1/channels")).json()[0]
    assert wind["quality"] == "bad_range" and wind["grade"] == 0
    assert (await client.get("/api/v1/alarms")).json() == []
    health = (await client.get("/api/v1/health")).json()
    assert health["rejected"] == {"non_finite": 1, "out_of_range": 1}


async def test_health_is_open_and_dashboard_served(closed_client: httpx.AsyncClient) -> None:
    assert (await closed_client.get("/api/v1/health")).status_code == 200
    page = await closed_client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    spec = (await closed_client.get("/api/v1/openapi.json")).json()
    assert {"/api/v1/health", "/api/v1/channels", "/api/v1/alarms", "/api/v1/events", "/api/v1/site"} <= set(
        spec["paths"]
    )


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
        anonymous = await client.post("/test-only/act")  # no token: authenticate (docs/api.md)
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
        viewer = {"Authorization": "Bearer view-secret"}
        assert (await client.post("/test-only/act", headers=viewer)).status_code == 403
        admin = {"Authorization": "Bearer admin-secret"}
        assert (await client.post("/test-only/act", headers=admin)).json() == {"done": True}


@pytest.fixture
async def roles_client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    runtime = make_runtime(tmp_path, "viewer")
    async for client in client_for(runtime):
        yield client, runtime


# A person's token: the audit trail names Li Gong (an X-Actor header is not believed).
SUPERVISOR = {"Authorization": "Bearer li-gong-secret", "X-Actor": "Somebody Else"}
VIEWER = {"Authorization": "Bearer view-secret"}


async def test_acknowledge_assign_close_with_audit_trail(
    roles_client: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, runtime = roles_client
    await feed(runtime, ReadingBatch.from_lists([1.0, 2.0], [0, 0], [12.0, 25.0], [0, 0]))
    alarm = (await client.get("/api/v1/alarms")).json()[0]
    path = f"/api/v1/alarms/{alarm['id']}"
    assert (await client.post(f"{path}/ack", headers=VIEWER)).status_code == 403
    assert (await client.post(f"{path}/ack")).status_code == 401  # anonymous viewer: no token
    acked = await client.post(f"{path}/ack", headers=SUPERVISOR, json={"note": "going"})
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "Li Gong"
    assert (await client.post(f"{path}/ack", headers=SUPERVISOR)).status_code == 409
    assigned = await client.post(
        f"{path}/assign",
        headers=SUPERVISOR,
        json={"assignee": "team 2", "deadline": "2030-01-01T08:00:00+08:00"},
    )
    assert assigned.json()["status"] == "rectifying" and assigned.json()["rectify_deadline"].startswith(
        "2030"
    )
    # Still active in the data: closing needs an override reason.
    refused = await client.post(f"{path}/close", headers=SUPERVISOR, json={"note": "done"})
    assert refused.status_code == 409 and "override" in refused.json()["detail"]
    closed = await client.post(
        f"{path}/close",
        headers=SUPERVISOR,
        json={"note": "props added", "override_reason": "gauge re-zeroed"},
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    twice = await client.post(f"{path}/close", headers=SUPERVISOR, json={"note": "x", "override_reason": "y"})
    assert twice.status_code == 409
    detail = (await client.get(path)).json()
    assert [e["action"] for e in detail["audit"]] == [
        "raised",
        "escalated",
        "acknowledged",
        "rectifying",
        "closed",
    ]
    assert detail["audit"][-1]["actor"] == "Li Gong"
    assert (await client.get("/api/v1/alarms?state=closed")).json()[0]["id"] == alarm["id"]


async def test_unknown_alarm_and_bad_bodies(roles_client: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, _ = roles_client
    assert (await client.post("/api/v1/alarms/nope/ack", headers=SUPERVISOR)).status_code == 404
    assert (await client.get("/api/v1/alarms/nope")).status_code == 404
    no_note = await client.post("/api/v1/alarms/nope/close", headers=SUPERVISOR, json={})
    assert no_note.status_code == 422
    extra = await client.post("/api/v1/alarms/nope/ack", headers=SUPERVISOR, json={"note": "", "x": 1})
    assert extra.status_code == 422


async def test_alarm_filters(roles_client: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, runtime = roles_client
    await feed(runtime, ReadingBatch.from_lists([1.0, 2.0, 3.0], [0, 0, 0], [12.0, 5.0, 25.0], [0, 0, 0]))
    # Raised, cleared and raised again within the reopen window: one alarm, reopened.
    (only,) = (await client.get("/api/v1/alarms")).json()
    assert (only["reopened"], only["max_grade"], only["active"]) == (1, 3, True)
    await feed(runtime, ReadingBatch.from_lists([4.0, 5000.0], [0, 0], [5.0, 12.0], [0, 0]))
    assert len((await client.get("/api/v1/alarms")).json()) == 2  # beyond the window: a new one
    assert len((await client.get("/api/v1/alarms?grade=3")).json()) == 1
    assert len((await client.get("/api/v1/alarms?channel=pit.P1.disp_h")).json()) == 0
    assert len((await client.get("/api/v1/alarms?since=2100-01-01T00:00:00Z")).json()) == 0
    # Epoch seconds are not ISO 8601, whatever they look like (pydantic would take them).
    for not_iso in ("1700000000", "0.5", "6.103515625e-05", "-5", " 12-01-2026"):
        assert (await client.get("/api/v1/alarms", params={"since": not_iso})).status_code == 422, not_iso
    assert (await client.get("/api/v1/alarms?grade=4")).status_code == 422
