"""Shelving and maintenance through the HTTP API, and ISO 8601 for every time in the answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.times import is_time_key, iso_times
from gateway.runtime import Runtime
from gateway.vocab import ReadingBatch
from tests.api.sites import feed
from tests.api.test_api import SUPERVISOR, VIEWER, client_for, make_runtime


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_VIEWER", "view-secret")
    monkeypatch.setenv("T_ADMIN", "admin-secret")
    monkeypatch.setenv("T_LI_GONG", "li-gong-secret")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    runtime = make_runtime(tmp_path, "viewer")
    async for client in client_for(runtime):
        yield client, runtime


def epoch_times(value: Any, path: str = "") -> list[str]:
    """Where a number sits under a time key (it should be ISO 8601 text)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if is_time_key(key) and isinstance(item, int | float) and not isinstance(item, bool):
                found.append(here)
            found += epoch_times(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += epoch_times(item, f"{path}[{index}]")
    return found


async def refused_without_token(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    missing = await client.post(path, json=body)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert (await client.post(path, json=body, headers=VIEWER)).status_code == 403


async def test_shelve_and_unshelve(api: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, runtime = api
    await feed(runtime, ReadingBatch.from_lists([1.0, 2.0], [0, 0], [12.0, 25.0], [0, 0]))
    alarm = (await client.get("/api/v1/alarms")).json()[0]
    assert alarm["shelved"] is False and alarm["shelved_until"] is None
    path = f"/api/v1/alarms/{alarm['id']}"
    body = {"reason": "anemometer being serviced", "duration_s": 7200}
    await refused_without_token(client, f"{path}/shelve", body)
    assert (await client.post("/api/v1/alarms/nope/shelve", json=body, headers=SUPERVISOR)).status_code == 404
    for bad in ({"duration_s": 60}, {"reason": "", "duration_s": 60}, {"reason": "x", "duration_s": -1}):
        assert (await client.post(f"{path}/shelve", json=bad, headers=SUPERVISOR)).status_code == 422
    too_long = await client.post(
        f"{path}/shelve", json={"reason": "x", "duration_s": 2 * 86400}, headers=SUPERVISOR
    )
    assert too_long.status_code == 422 and "86400 s" in too_long.json()["detail"]
    shelved = await client.post(f"{path}/shelve", json=body, headers=SUPERVISOR)
    assert shelved.status_code == 200
    view = shelved.json()
    assert (view["shelved"], view["shelved_by"], view["shelve_reason"]) == (
        True, "Li Gong", "anemometer being serviced",
    )  # fmt: skip
    assert view["shelved_until"].endswith("Z")
    health = (await client.get("/api/v1/health")).json()
    assert health["alarms"]["shelved"] == 1
    unshelved = await client.post(f"{path}/unshelve", headers=SUPERVISOR, json={"note": "done"})
    assert unshelved.status_code == 200 and unshelved.json()["shelved"] is False
    assert (await client.post(f"{path}/unshelve", headers=SUPERVISOR)).status_code == 409
    audit = (await client.get(path)).json()["audit"]
    assert [e["action"] for e in audit][-2:] == ["shelved", "unshelved"]
    assert audit[-2]["detail"]["until"].endswith("Z")  # the shelf's end, ISO 8601 in the trail too


async def test_maintenance_silences_a_device_until_it_ends(api: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, runtime = api
    path = "/api/v1/devices/anemo1/maintenance"
    body = {"reason": "replacing the anemometer", "duration_s": 3600}
    await refused_without_token(client, path, body)
    await refused_without_token(client, f"{path}/end", {})
    assert (await client.get("/api/v1/devices/crane9/maintenance")).status_code == 404
    assert (
        await client.post("/api/v1/devices/crane9/maintenance", json=body, headers=SUPERVISOR)
    ).status_code == 404
    for bad in ({"reason": "x"}, {"reason": "", "duration_s": 60}, {"reason": "x", "duration_s": 1e9}):
        assert (await client.post(path, json=bad, headers=SUPERVISOR)).status_code == 422
    assert (await client.post(f"{path}/end", headers=SUPERVISOR)).status_code == 409
    started = await client.post(path, json=body, headers=SUPERVISOR)
    assert started.status_code == 200
    assert (started.json()["in_maintenance"], started.json()["by"]) == (True, "Li Gong")
    # Readings are still taken in; the red wind makes no alarm while the device is in maintenance.
    await feed(runtime, ReadingBatch.from_lists([1.0, 2.0], [0, 0], [12.0, 25.0], [0, 0]))
    assert runtime.pipeline.stats.readings == 2
    assert (await client.get("/api/v1/alarms")).json() == []
    health = (await client.get("/api/v1/health")).json()["alarms"]
    assert health["suppressed"]["maintenance_events"] == 2  # raised yellow, escalated red
    assert [w["device"] for w in health["maintenance"]] == ["anemo1"]
    listed = {d["id"]: d for d in (await client.get("/api/v1/devices")).json()}
    assert listed["anemo1"]["maintenance"]["in_maintenance"] is True
    assert listed["anemo1"]["channels"] == ["anemo1.wind_speed"]
    assert listed["pit.P1"]["maintenance"]["in_maintenance"] is False
    # Ending it raises what the data still says, at once.
    ended = await client.post(f"{path}/end", headers=SUPERVISOR, json={"note": "new sensor fitted"})
    assert ended.status_code == 200 and ended.json()["in_maintenance"] is False
    (alarm,) = (await client.get("/api/v1/alarms")).json()
    assert (alarm["channel"], alarm["grade"], alarm["state"]) == ("anemo1.wind_speed", 3, "raised")
    state = (await client.get(path)).json()
    assert [(e["action"], e["note"]) for e in state["audit"]] == [
        ("maintenance_started", "replacing the anemometer"),
        ("maintenance_ended", "new sensor fitted"),
    ]


async def test_every_time_in_the_answers_is_iso_8601(api: tuple[httpx.AsyncClient, Runtime]) -> None:
    client, runtime = api
    await feed(runtime, ReadingBatch.from_lists([1.0, 2.0], [0, 0], [12.0, 25.0], [0, 0]))
    alarm_id = (await client.get("/api/v1/alarms")).json()[0]["id"]
    await client.post(
        f"/api/v1/alarms/{alarm_id}/assign",
        headers=SUPERVISOR,
        json={"assignee": "team 2", "deadline": "2030-01-01T08:00:00+08:00"},
    )
    await client.post(
        f"/api/v1/alarms/{alarm_id}/shelve", headers=SUPERVISOR, json={"reason": "x", "duration_s": 60}
    )
    await client.post(
        "/api/v1/devices/pit.P1/maintenance", headers=SUPERVISOR, json={"reason": "y", "duration_s": 60}
    )
    detail = (await client.get(f"/api/v1/alarms/{alarm_id}")).json()
    rectifying = next(e for e in detail["audit"] if e["action"] == "rectifying")
    assert rectifying["detail"]["deadline"] == "2030-01-01T00:00:00.000Z"
    answers = {
        path: (await client.get(path)).json()
        for path in (
            "/api/v1/alarms",
            f"/api/v1/alarms/{alarm_id}",
            "/api/v1/health",
            "/api/v1/channels",
            "/api/v1/devices",
            "/api/v1/devices/pit.P1/maintenance",
        )
    }
    assert {path: epoch_times(answer) for path, answer in answers.items() if epoch_times(answer)} == {}
    assert answers["/api/v1/channels"][0]["ts"].endswith("Z")


def test_health_shaped_times_become_iso_and_durations_stay_numbers() -> None:
    health = {
        "uptime_s": 12.5,
        "sources": [{"devices": {"crane1": {"last_good_ts": 1_714_550_400.0, "failing_since": None}}}],
        "pushes": [{"oldest_pending_age_s": 3.0, "failing": True}],
        "audit": [{"ts": 1_714_550_400.25, "detail": {"until": 1_714_554_000, "grade": 3}}],
        "odd": {"ts": float("nan"), "since": True},
    }
    out = iso_times(health)
    assert out["uptime_s"] == 12.5 and out["pushes"][0]["oldest_pending_age_s"] == 3.0
    assert out["sources"][0]["devices"]["crane1"] == {
        "last_good_ts": "2024-05-01T08:00:00.000Z", "failing_since": None,
    }  # fmt: skip
    assert out["audit"][0] == {
        "ts": "2024-05-01T08:00:00.250Z",
        "detail": {"until": "2024-05-01T09:00:00.000Z", "grade": 3},
    }
    assert out["odd"]["since"] is True and out["odd"]["ts"] != out["odd"]["ts"]  # NaN left as it is
