"""Changes are rate-limited: per token when accepted, per client address when refused (429)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

import api.rate_limits
from api import create_app
from api.rate_limits import CHANGE_BURST, REFUSAL_BURST, RateLimit
from gateway.config import parse_config
from gateway.runtime import Runtime
from gateway.vocab import ReadingBatch, SinkBatch

SITE = """
site: {id: s1}
devices:
  - id: anemo1
    type: mqtt
    channels: {wind_speed: {unit: m/s, range: [0, 60]}}
rules:
  - {id: wind, type: threshold, channels: [anemo1.wind_speed], upper: {yellow: 10, red: 20}, hysteresis: 1}
api:
  anonymous_role: viewer
  tokens:
    - {role: supervisor, env: R_SUP_A}
    - {role: supervisor, env: R_SUP_B}
"""
A = {"Authorization": "Bearer token-a"}
B = {"Authorization": "Bearer token-b"}


Client = tuple[httpx.AsyncClient, str]


@pytest.fixture
async def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    monkeypatch.setattr(api.rate_limits, "monotonic", lambda: 1000.0)  # the limits' time stands still
    monkeypatch.setenv("R_SUP_A", "token-a")
    monkeypatch.setenv("R_SUP_B", "token-b")
    runtime = Runtime(parse_config(SITE), base_dir=tmp_path)
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with runtime.desk, httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
        batch = ReadingBatch.from_lists([1.0, 2.0], [0, 0], [12.0, 25.0], [0, 0])
        await runtime.desk.write(SinkBatch(batch, tuple(runtime.pipeline.process(batch))))
        yield c, (await c.get("/api/v1/alarms")).json()[0]["id"]


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
