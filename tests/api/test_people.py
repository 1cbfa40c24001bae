"""People, not roles: every token names a person or a role, and the audit trail names the person.

Every mutating route the app has (walked from the app itself, so a new one is covered the day it is
added) refuses no token, an unknown token and a person whose role is too low, and lets a person
with the role through to the route's own answer.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api import create_app
from api.auth import ROLE_RANK
from api.guard import CHANGE_ROLE, CHANGES
from gateway.config import parse_config
from gateway.runtime import Runtime
from gateway.vocab import ReadingBatch
from tests.api.sites import api_section, feed, set_tokens, wind_site

TOKENS = {"P_ROLE_SUPERVISOR": ("supervisor", "role-sup")}
USERS = {
    "P_WANG": ("王芳", "viewer", "wang-secret"),
    "P_ZHAO": ("Zhao Lei", "supervisor", "zhao-secret"),
    "P_LI": ("Li Wei", "admin", "li-secret"),
}
SITE = wind_site(
    api_section("none", TOKENS, USERS),
    rules="""\
  - {id: wind, type: threshold, channels: [anemo1.wind_speed], upper: {yellow: 10, red: 20}, min_hold_s: 0}
  - {id: drift, type: cumulative, channels: [anemo1.wind_speed], upper: {red: 100}}
""",
)
PEOPLE = {"viewer": "wang-secret", "supervisor": "zhao-secret", "admin": "li-secret"}


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    set_tokens(monkeypatch, TOKENS, USERS)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, Runtime]]:
    runtime = Runtime(parse_config(SITE), base_dir=tmp_path)
    async with runtime.desk:
        yield create_app(runtime), runtime


_addresses = (f"127.0.{a}.{b}" for a, b in itertools.product(range(1, 250), range(1, 250)))


def client(app: FastAPI) -> httpx.AsyncClient:
    # Refused changes are rate-limited per address: each probe comes from an address of its own.
    transport = httpx.ASGITransport(app=app, client=(next(_addresses), 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://gw")


def mutating_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path with its parameters filled) for every changing operation the app publishes."""
    out = []
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            if method.upper() in CHANGES:
                out.append((method.upper(), re.sub(r"\{[^}]+\}", "x", path)))
    return sorted(out)


async def call(app: FastAPI, method: str, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with client(app) as c:
        return await c.request(method, path, headers=headers, json={})


async def test_every_mutating_route_refuses_the_wrong_token(gateway: tuple[FastAPI, Runtime]) -> None:
    app, _ = gateway
    routes = mutating_routes(app)
    assert len(routes) >= 8  # ack, assign, close, shelve, unshelve, maintenance x2, baseline reset
    admin_only = {("POST", "/api/v1/baselines/x/x/reset")}
    assert admin_only <= set(routes)
    # Not ranked: the platform's machine token or an admin posts warnings, a supervisor may not.
    exactly = {("POST", "/api/v1/warnings/cap"): {"platform", "admin"}}
    assert set(exactly) <= set(routes)
    for method, path in routes:
        needed = "admin" if (method, path) in admin_only else CHANGE_ROLE
        where = f"{method} {path}"
        assert (await call(app, method, path, None)).status_code == 401, where
        unknown = await call(app, method, path, "nobody-has-this")
        assert unknown.status_code == 401 and unknown.headers["www-authenticate"] == "Bearer", where
        # A person's token with the wrong scheme is no bearer token.
        async with client(app) as c:
            basic = await c.request(method, path, headers={"Authorization": "Basic zhao-secret"}, json={})
        assert basic.status_code == 401, where
        for role, token in PEOPLE.items():
            answer = await call(app, method, path, token)
            allowed = exactly.get((method, path))
            if (role not in allowed) if allowed is not None else ROLE_RANK[role] < ROLE_RANK[needed]:
                assert answer.status_code == 403, (where, role)
                assert "needs the" in answer.json()["detail"], (where, role)
            else:  # past the role checks: the route's own answer (no such alarm, a bad body)
                assert answer.status_code in (404, 409, 422), (where, role, answer.text)


def _feed(runtime: Runtime, values: list[float]) -> Callable[[], Any]:
    n = len(values)
    batch = ReadingBatch.from_lists([float(i + 1) for i in range(n)], [0] * n, values, [0] * n)
    return lambda: feed(runtime, batch)


async def test_the_audit_trail_names_the_person_not_a_header(gateway: tuple[FastAPI, Runtime]) -> None:
    app, runtime = gateway
    await _feed(runtime, [12.0, 25.0])()
    (alarm,) = runtime.desk.listing()
    path = f"/api/v1/alarms/{alarm.id}"
    lie = {"X-Actor": "Li Wei"}
    async with client(app) as c:
        zhao = {"Authorization": "Bearer zhao-secret", **lie}
        acked = await c.post(f"{path}/ack", headers=zhao, json={"note": "on my way"})
        assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "Zhao Lei"
        role_token = {"Authorization": "Bearer role-sup", **lie}
        assigned = await c.post(f"{path}/assign", headers=role_token, json={"assignee": "Zhao Lei"})
        assert assigned.status_code == 200
        trail = (await c.get(path, headers={"Authorization": "Bearer wang-secret"})).json()["audit"]
    actors = {a["action"]: a["actor"] for a in trail}
    assert actors["acknowledged"] == "Zhao Lei"
    assert actors["rectifying"] == "supervisor"  # a role token names nobody, whatever X-Actor says


async def test_a_person_with_the_viewer_role_reads_but_cannot_act(gateway: tuple[FastAPI, Runtime]) -> None:
    app, runtime = gateway
    await _feed(runtime, [12.0, 25.0])()
    (alarm,) = runtime.desk.listing()
    async with client(app) as c:
        wang = {"Authorization": "Bearer wang-secret"}
        assert (await c.get("/api/v1/alarms", headers=wang)).status_code == 200
        refused = await c.post(f"/api/v1/alarms/{alarm.id}/ack", headers=wang)
    assert refused.status_code == 403
    assert runtime.desk.listing()[0].status == "open"
