"""Weather warnings over HTTP: CAP in (platform or admin), listing, one with its trail, acknowledgement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api import create_app
from gateway.config import parse_config
from gateway.runtime import Runtime
from tests.api.sites import api_section, set_tokens
from tests.drivers.cap.documents import ELSEWHERE, alert, area, info, ref
from tests.support import FakeClock

TOKENS = {f"W_{role.upper()}": (role, role[0]) for role in ("viewer", "supervisor", "admin", "platform")}
SITE = "site: {id: s1, location: {lat: 39.9, lon: 116.4}}\n" + api_section("viewer", TOKENS)
VIEWER = {"Authorization": "Bearer v"}
SUPERVISOR = {"Authorization": "Bearer s", "X-Actor": "Wang Gong"}  # X-Actor is ignored
ADMIN = {"Authorization": "Bearer a"}
PLATFORM = {"Authorization": "Bearer p", "Content-Type": "application/xml"}


@pytest.fixture
async def api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    set_tokens(monkeypatch, TOKENS)
    clock = FakeClock(1764633900.0 + 365 * 86400)  # 2026-12-02 08:05 +08:00
    runtime = Runtime(parse_config(SITE), base_dir=tmp_path, clock=clock)
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with (
        runtime.desk,
        runtime.weather,
        httpx.AsyncClient(transport=transport, base_url="http://gw") as c,
    ):
        yield c, runtime


async def post(
    client: httpx.AsyncClient, document: str | bytes, headers: dict[str, str] = PLATFORM
) -> httpx.Response:
    body = document.encode() if isinstance(document, str) else document
    return await client.post("/api/v1/warnings/cap", content=body, headers=headers)


async def test_platform_posts_and_everyone_reads(api: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, runtime = api
    answer = await post(client, alert())
    assert answer.status_code == 200, answer.text
    (applied,) = answer.json()["applied"]
    assert applied["change"] == "issued" and applied["warning"]["event"] == "gale"
    assert applied["warning"]["expires"] == "2026-12-02T12:00:00.000Z"
    assert [a["id"] for a in applied["warning"]["actions"]][:1] == ["stop_lifting"]
    listed = (await client.get("/api/v1/warnings")).json()
    assert [w["id"] for w in listed] == [applied["warning"]["id"]] and listed[0]["in_force"]
    one = (await client.get(f"/api/v1/warnings/{listed[0]['id']}")).json()
    assert [e["action"] for e in one["audit"]] == ["alert"] and one["audit"][0]["ts"].endswith("Z")
    # The site alarm it raised went to the pipeline's sinks; the desk's worker hands it on (run here).
    desk_queue = next(w.queue for w in runtime.pipeline.workers if w.sink is runtime.desk)
    await runtime.desk.write(desk_queue.get_nowait())
    (alarm,) = (await client.get("/api/v1/alarms")).json()
    assert (alarm["channel"], alarm["rule"], alarm["grade"]) == ("weather.gale", "weather_warning", 1)
    assert alarm["detail"]["warning"] == applied["warning"]["id"]


async def test_who_may_post(api: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, _ = api
    xml = {"Content-Type": "application/xml"}
    assert (await post(client, alert(), xml)).status_code == 401
    assert (await post(client, alert(), VIEWER | xml)).status_code == 403
    assert (await post(client, alert(), SUPERVISOR | xml)).status_code == 403  # not the platform
    assert (await post(client, alert("A1"), ADMIN | xml)).status_code == 200
    assert (await post(client, alert("P1"))).status_code == 200
    # The platform's token reads like a viewer's, and acts on nothing else.
    assert (await client.get("/api/v1/warnings", headers=PLATFORM)).status_code == 200
    warning_id = (await client.get("/api/v1/warnings")).json()[0]["id"]
    assert (
        await client.post(f"/api/v1/warnings/{warning_id}/ack", headers=PLATFORM, json={})
    ).status_code == 403


@pytest.mark.parametrize(
    ("document", "status", "reason"),
    [
        (b"<alert>", 422, "malformed_xml"),
        (b'<!DOCTYPE a [<!ENTITY x "y">]><alert/>', 422, "forbidden_xml"),
        (b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"/>', 422, "wrong_namespace"),
        (alert(sent="yesterday").encode(), 422, "bad_date"),
        (alert(sent="9999-12-31T23:59:59-01:00").encode(), 422, "bad_date"),
        (alert(infos=info(expires="0001-01-01T00:00:00+01:00")).encode(), 422, "bad_date"),
        (alert(status="Real").encode(), 422, "bad_value"),
        (b"", 422, "malformed_xml"),
        (b"x" * (1024 * 1024 + 1), 413, "larger than"),
        (b"<a/>" * (3 * 1024 * 1024), 413, "larger than"),
    ],
)
async def test_bad_documents_refused_with_the_reason(
    api: tuple[httpx.AsyncClient, Runtime], document: bytes, status: int, reason: str
) -> None:
    client, _ = api
    answer = await post(client, document)
    assert answer.status_code == status and reason in answer.json()["detail"]
    assert (await client.get("/api/v1/warnings")).json() == []


async def test_refusals_counted_in_health(api: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, _ = api
    await post(client, b"<alert>")
    health = (await client.get("/api/v1/health")).json()
    assert health["weather"]["refused"] == {"malformed_xml": 1}


async def test_update_cancel_and_filters(api: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, _ = api
    await post(client, alert())
    await post(client, alert("X1", status="Exercise"))
    await post(client, alert("O1", infos=info(areas=area("外地", polygon=ELSEWHERE))))
    in_force = (await client.get("/api/v1/warnings", params={"state": "in_force"})).json()
    assert [w["identifier"] for w in in_force] == ["W1"]
    others = (await client.get("/api/v1/warnings", params={"state": "ended"})).json()
    assert {w["identifier"]: w["not_acted"] for w in others} == {"X1": "exercise", "O1": "outside"}
    cancel = alert("C1", "2026-12-02T09:00:00+08:00", "Cancel", references=ref(), infos="")
    (applied,) = (await post(client, cancel)).json()["applied"]
    assert applied["change"] == "ended" and applied["warning"]["state"] == "cancelled"
    assert (await client.get("/api/v1/warnings", params={"state": "in_force"})).json() == []
    assert (await client.get("/api/v1/warnings", params={"local": "true"})).json() == []


async def test_acknowledge_with_actions_done(api: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, runtime = api
    warning: dict[str, Any] = (await post(client, alert())).json()["applied"][0]["warning"]
    desk_queue = next(w.queue for w in runtime.pipeline.workers if w.sink is runtime.desk)
    await runtime.desk.write(desk_queue.get_nowait())  # the site alarm on the desk
    path = f"/api/v1/warnings/{warning['id']}/ack"
    assert (await client.post(path, json={"done": ["stop_lifting"]})).status_code == 401
    assert (await client.post(path, headers=VIEWER, json={})).status_code == 403
    assert (await client.post("/api/v1/warnings/nope/ack", headers=SUPERVISOR, json={})).status_code == 404
    bad = await client.post(path, headers=SUPERVISOR, json={"done": ["fly_away"]})
    assert bad.status_code == 422 and "fly_away" in bad.json()["detail"]
    assert (await client.post(path, headers=SUPERVISOR, json={"done": "stop_lifting"})).status_code == 422
    acked = await client.post(
        path, headers=SUPERVISOR, json={"done": ["stop_lifting", "secure_cranes"], "note": "ok"}
    )
    assert acked.status_code == 200
    view = acked.json()
    # A role token names no one (X-Actor is not trusted for identity): the trail says the role.
    assert view["acknowledged_by"] == "supervisor" and view["ack_note"] == "ok"
    done = {a["id"]: (a["done"], a["done_by"]) for a in view["actions"]}
    assert done["stop_lifting"] == (True, "supervisor") and done["stop_erection"] == (False, None)
    assert view["actions"][0]["done_at"].endswith("Z")
    trail = (await client.get(f"/api/v1/warnings/{warning['id']}")).json()["audit"]
    assert [e["action"] for e in trail] == ["alert", "acknowledged"]
    # Its site alarm is acknowledged with it; a second acknowledgement of the warning is fine.
    alarm = (await client.get(f"/api/v1/alarms/{warning['alarm_id']}")).json()
    assert (alarm["status"], alarm["acknowledged_by"]) == ("acknowledged", "supervisor")
    again = await client.post(path, headers=SUPERVISOR, json={"done": ["stop_erection"]})
    assert again.status_code == 200 and again.json()["acknowledged_by"] == "supervisor"
    assert (await client.get("/api/v1/warnings/nope")).status_code == 404
