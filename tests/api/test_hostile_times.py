"""Times no site can mean: refused on the way in (422), and a stored one never breaks the listing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.config import parse_config
from gateway.runtime import Runtime
from tests.api.sites import api_client, api_section, bearer, raise_wind_alarm, set_tokens, wind_site

TOKENS = {"T_VIEWER": ("viewer", "view-secret"), "T_SUPERVISOR": ("supervisor", "sup-secret")}
SITE = wind_site(api_section("none", TOKENS))
SUPERVISOR = bearer("sup-secret")
VIEWER = bearer("view-secret")

HOSTILE_DEADLINES = [
    "9999-12-31T23:59:59-14:00",  # past year 9999 once in UTC
    "0001-01-01T00:00:00+14:00",  # before year 1 once in UTC
    "2500-01-01T00:00:00Z",
    "1960-01-01T00:00:00Z",
    "2026-12-31T18:00:00",  # no offset: which zone would it be?
    "not a time",
]


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    set_tokens(monkeypatch, TOKENS)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime, str]]:
    runtime = Runtime(parse_config(SITE), base_dir=tmp_path)
    async with api_client(runtime) as client:
        yield client, runtime, await raise_wind_alarm(runtime, client, headers=VIEWER)


@pytest.mark.parametrize("deadline", HOSTILE_DEADLINES)
async def test_a_deadline_no_site_can_mean_is_422_and_not_stored(
    site: tuple[httpx.AsyncClient, Runtime, str], deadline: str
) -> None:
    client, _, alarm_id = site
    answer = await client.post(
        f"/api/v1/alarms/{alarm_id}/assign",
        json={"assignee": "wang", "deadline": deadline},
        headers=SUPERVISOR,
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "deadline"]
    assert deadline not in answer.text  # the input is not echoed
    listing = await client.get("/api/v1/alarms", headers=VIEWER)
    assert listing.status_code == 200
    assert listing.json()[0]["assignee"] is None
    assert (await client.get(f"/api/v1/alarms/{alarm_id}", headers=VIEWER)).status_code == 200


async def test_a_sane_deadline_is_stored_in_utc(site: tuple[httpx.AsyncClient, Runtime, str]) -> None:
    client, _, alarm_id = site
    answer = await client.post(
        f"/api/v1/alarms/{alarm_id}/assign",
        json={"assignee": "wang", "deadline": "2026-12-31T18:00:00+08:00"},
        headers=SUPERVISOR,
    )
    assert answer.status_code == 200
    shown = (await client.get(f"/api/v1/alarms/{alarm_id}", headers=VIEWER)).json()
    assert shown["rectify_deadline"] == "2026-12-31T10:00:00.000Z"


Site = tuple[httpx.AsyncClient, Runtime, str]


HOSTILE_SINCE = ["2026-01-01T00:00:00", "0.5", "1700000000", "yesterday"]


@pytest.mark.parametrize("since", HOSTILE_SINCE)
async def test_a_since_no_site_can_mean_is_422(site: Site, since: str) -> None:
    client, _, _ = site
    answer = await client.get("/api/v1/alarms", params={"since": since}, headers=VIEWER)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "since"]


async def test_a_stored_time_past_iso_8601_reads_as_unknown(site: Site) -> None:
    # A deadline stored by an older gateway, before the API refused it.
    client, runtime, alarm_id = site
    await runtime.desk.assign(alarm_id, "old gateway", "wang", 253402350000.0)
    listing = await client.get("/api/v1/alarms", headers=VIEWER)
    assert listing.status_code == 200
    assert listing.json()[0]["assignee"] == "wang"
    assert listing.json()[0]["rectify_deadline"] is None
    assert (await client.get(f"/api/v1/alarms/{alarm_id}", headers=VIEWER)).status_code == 200


@pytest.mark.parametrize("since", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
async def test_a_since_past_any_alarm_filters_without_failing(site: Site, since: str) -> None:
    client, _, _ = site
    answer = await client.get("/api/v1/alarms", params={"since": since}, headers=VIEWER)
    assert answer.status_code == 200
    assert len(answer.json()) == (0 if since.startswith("9999") else 1)
