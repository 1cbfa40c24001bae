"""Changes are rate-limited: per token when accepted, per client address when refused (429)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

import api.rate_limits
from api.rate_limits import CHANGE_BURST, REFUSAL_BURST, RateLimit
from gateway.config import parse_config
from gateway.runtime import Runtime
from tests.api.sites import api_client, api_section, bearer, raise_wind_alarm, set_tokens, wind_site

TOKENS = {"R_SUP_A": ("supervisor", "token-a"), "R_SUP_B": ("supervisor", "token-b")}
SITE = wind_site(api_section("viewer", TOKENS))
A = bearer("token-a")
B = bearer("token-b")


Client = tuple[httpx.AsyncClient, str]


@pytest.fixture
async def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    monkeypatch.setattr(api.rate_limits, "monotonic", lambda: 1000.0)  # the limits' time stands still
    set_tokens(monkeypatch, TOKENS)
    runtime = Runtime(parse_config(SITE), base_dir=tmp_path)
    async with api_client(runtime) as c:
        yield c, await raise_wind_alarm(runtime, c)


async def test_a_token_hammering_changes_gets_429_and_another_token_does_not(client: Client) -> None:
    c, alarm_id = client
    ack = f"/api/v1/alarms/{alarm_id}/ack"
    codes = [(await c.post(ack, json={}, headers=A)).status_code for _ in range(40)]
    assert 429 not in codes[:CHANGE_BURST]
    assert codes[CHANGE_BURST:] == [429] * (40 - CHANGE_BURST)
    limited = await c.post(f"/api/v1/alarms/{alarm_id}/ack", json={}, headers=A)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert "too many changes" in limited.json()["detail"]
    assert (await c.post(f"/api/v1/alarms/{alarm_id}/ack", json={}, headers=B)).status_code in (200, 409)
    assert (await c.get("/api/v1/alarms")).status_code == 200  # reading is never limited


async def test_guessing_tokens_is_slowed_per_address(client: Client) -> None:
    c, alarm_id = client
    wrong = {"Authorization": "Bearer guess"}
    codes = [
        (await c.post(f"/api/v1/alarms/{alarm_id}/ack", json={}, headers=wrong)).status_code
        for _ in range(15)
    ]
    assert codes[:REFUSAL_BURST] == [401] * REFUSAL_BURST
    assert codes[REFUSAL_BURST:] == [429] * (15 - REFUSAL_BURST)
    # The right token from the same address still works: a supervisor is not locked out by a guesser.
    assert (await c.post(f"/api/v1/alarms/{alarm_id}/ack", json={}, headers=A)).status_code == 200


def test_a_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limit = RateLimit(rate_per_s=2.0, burst=3, clock=lambda: now[0])
    assert [limit.take("k") for _ in range(3)] == [None, None, None]
    assert limit.take("k") == pytest.approx(0.5)
    now[0] += 0.5
    assert limit.take("k") is None
    assert limit.take("other") is None  # keys are apart
    now[0] += 100.0
    assert [limit.take("k") for _ in range(4)][:3] == [None, None, None]  # refilled to the burst, no more
    assert limit.limited == 2
