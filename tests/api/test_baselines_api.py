"""Baselines over HTTP: listed for viewers, reset only by an admin with a reason, every reset audited."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.config import parse_config
from gateway.runtime import Runtime
from gateway.vocab import ReadingBatch
from tests.api import sites
from tests.api.sites import api_client, api_section, set_tokens

SITE = """
site: {id: s1}
devices:
  - id: fw1
    type: mqtt
    channels: {settlement: {unit: mm}, tilt: {unit: mm}}
rules:
  - {id: sink, type: cumulative, channels: [fw1.settlement], upper: {yellow: 5, red: 10}}
  - {id: fixed, type: cumulative, channels: [fw1.tilt], upper: {yellow: 5}, baseline: 2.5}
"""
TOKENS = {
    "T_VIEWER": ("viewer", "view-secret"),
    "T_SUPERVISOR": ("supervisor", "super-secret"),
    "T_ADMIN": ("admin", "admin-secret"),
}
USERS = {"T_LI_WEI": ("Li Wei", "admin", "li-wei-secret")}
SITE += api_section("none", TOKENS, USERS)

ADMIN = {"authorization": "Bearer li-wei-secret", "x-actor": "not believed"}
VIEWER = {"authorization": "Bearer view-secret"}
RESET = "/api/v1/baselines/sink/fw1.settlement/reset"


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    set_tokens(monkeypatch, TOKENS, USERS)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    runtime = Runtime(parse_config(SITE), base_dir=tmp_path, clock=lambda: 1_800_000_000.0)
    async with api_client(runtime) as client:
        yield client, runtime


async def feed(runtime: Runtime, ts: list[float], values: list[float]) -> None:
    await sites.feed(runtime, ReadingBatch.from_lists(ts, [0] * len(ts), values, [0] * len(ts)))
    assert await runtime.baselines.flush()


async def test_list_shows_taken_and_fixed_baselines(gateway: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, runtime = gateway
    assert (await client.get("/api/v1/baselines")).status_code == 401
    before = (await client.get("/api/v1/baselines", headers=VIEWER)).json()
    assert [(b["rule"], b["value"], b["source"], b["resettable"]) for b in before] == [
        ("sink", None, None, True),
        ("fixed", 2.5, "config", False),
    ]
    await feed(runtime, [1_700_000_000.0, 1_700_000_060.0], [31.5, 33.0])
    taken = (await client.get("/api/v1/baselines", headers=VIEWER)).json()[0]
    assert taken == {
        "rule": "sink",
        "channel": "fw1.settlement",
        "unit": "mm",
        "value": 31.5,
        "source": "first",
        "taken_at": "2023-11-14T22:13:20.000Z",
        "updated_at": "2027-01-15T08:00:00.000Z",
        "resettable": True,
    }
    one = (await client.get("/api/v1/baselines/sink/fw1.settlement", headers=VIEWER)).json()
    assert [(a["action"], a["actor"]) for a in one["audit"]] == [("taken", "system")]
    assert (await client.get("/api/v1/baselines/sink/fw1.nothing", headers=VIEWER)).status_code == 404


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"authorization": "Bearer wrong"}, 401),
        (VIEWER, 403),
        ({"authorization": "Bearer super-secret"}, 403),
    ],
)
async def test_reset_needs_an_admin(
    gateway: tuple[httpx.AsyncClient, Runtime], headers: dict[str, str], status: int
) -> None:
    client, runtime = gateway
    await feed(runtime, [1_700_000_000.0], [31.5])
    answer = await client.post(RESET, json={"reason": "re-mounted"}, headers=headers)
    assert answer.status_code == status
    if status == 401:
        assert answer.headers["www-authenticate"] == "Bearer"
    assert runtime.baselines.listing()[0]["value"] == 31.5  # untouched


async def test_reset_refusals(gateway: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, _runtime = gateway
    assert (await client.post(RESET, json={}, headers=ADMIN)).status_code == 422
    assert (await client.post(RESET, json={"reason": ""}, headers=ADMIN)).status_code == 422
    assert (await client.post(RESET, json={"reason": "  "}, headers=ADMIN)).status_code == 422
    assert (await client.post(RESET, json={"reason": "x", "surprise": 1}, headers=ADMIN)).status_code == 422
    unknown = await client.post("/api/v1/baselines/sink/fw1.tilt/reset", json={"reason": "x"}, headers=ADMIN)
    assert unknown.status_code == 404
    fixed = await client.post("/api/v1/baselines/fixed/fw1.tilt/reset", json={"reason": "x"}, headers=ADMIN)
    assert fixed.status_code == 409 and "site file" in fixed.json()["detail"]


async def test_reset_is_audited_and_stored(
    gateway: tuple[httpx.AsyncClient, Runtime], tmp_path: Path
) -> None:
    client, runtime = gateway
    await feed(runtime, [1_700_000_000.0, 1_700_000_060.0], [31.5, 38.0])
    assert runtime.desk.listing()[0].grade == 1  # 6.5 mm since installation: yellow
    answer = await client.post(RESET, json={"reason": "prism replaced after the crane hit it"}, headers=ADMIN)
    assert answer.status_code == 200
    assert answer.json()["value"] is None and answer.json()["source"] is None
    await feed(runtime, [1_700_000_120.0], [12.0])  # the next good reading is the new reference
    assert runtime.baselines.listing()[0]["value"] == 12.0
    set_to = await client.post(RESET, json={"reason": "surveyed", "value": 11.75}, headers=ADMIN)
    assert set_to.json()["value"] == 11.75 and set_to.json()["source"] == "set"

    trail = (await client.get("/api/v1/baselines/sink/fw1.settlement", headers=VIEWER)).json()["audit"]
    assert [(a["action"], a["actor"]) for a in trail] == [
        ("taken", "system"),
        ("reset", "Li Wei"),
        ("taken", "system"),
        ("set", "Li Wei"),
    ]
    assert trail[1]["note"] == "prism replaced after the crane hit it"
    assert trail[1]["detail"]["old"]["value"] == 31.5
    assert trail[1]["ts"] == "2027-01-15T08:00:00.000Z"
    with sqlite3.connect(tmp_path / "alarms.db") as db:
        stored = db.execute("SELECT value, source FROM baselines WHERE rule = 'sink'").fetchall()
        audit_rows = db.execute("SELECT count(*) FROM baseline_audit").fetchone()[0]
    assert stored == [(11.75, "set")] and audit_rows == 4
