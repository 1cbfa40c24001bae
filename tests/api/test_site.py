"""The site, devices, cycles and rounding over HTTP, on a real runtime with a real local store."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api import create_app
from gateway.config import parse_config
from gateway.runtime import Runtime
from gateway.vocab import CraneCycle, Quality, ReadingBatch, SinkBatch, SiteCycle
from tests.support import FakeClock

SITE = """
site: {id: s1, name: 滨江一期, plan: plan.svg}
devices:
  - id: anemo1
    type: mqtt
    name: 塔吊风速仪
    position: crane 1 jib
    plan_xy: [0.25, 0.5]
    period_s: 10
    channels: {wind_speed: {unit: m/s, range: [0, 60], resolution: 0.1}}
  - id: pit.P3
    type: mqtt
    name: 基坑测斜 P3
    channels: {disp_h: {unit: mm, resolution: 0.25}}
rules:
  - {id: wind_hi, type: threshold, channels: [anemo1.wind_speed], upper: {yellow: 10, red: 20}}
  - {id: pit_total, type: cumulative, channels: ["pit.*.disp_h"], upper: {yellow: 21, orange: 25.5, red: 30}}
  - {id: pit_rate, type: rate, channels: [pit.P3.disp_h], window_s: 86400, upper: {red: 3}}
sinks:
  - {type: sqlite, path: store.db}
api:
  anonymous_role: none
  users:
    - {name: 王芳, role: viewer, token_env: S_WANG}
"""
VIEWER = {"Authorization": "Bearer wang-secret"}
PLAN = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 50"><rect width="100" height="50"/></svg>'


@pytest.fixture
async def gw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime, FakeClock]]:
    monkeypatch.setenv("S_WANG", "wang-secret")
    (tmp_path / "plan.svg").write_text(PLAN)
    clock = FakeClock()
    runtime = Runtime(parse_config(SITE), base_dir=tmp_path, clock=clock)
    store = runtime.store
    assert store is not None
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with runtime.desk, store, httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield client, runtime, clock


async def feed(
    runtime: Runtime, ts: list[float], col: list[int], values: list[float], quality: list[int]
) -> None:
    batch = ReadingBatch.from_lists(ts, col, values, quality)
    out = SinkBatch(batch, tuple(runtime.pipeline.process(batch)))
    runtime.live.take(out)
    await runtime.desk.write(out)
    assert runtime.store is not None
    await runtime.store.write(out)


async def test_site_names_devices_places_units_and_limits(
    gw: tuple[httpx.AsyncClient, Runtime, FakeClock],
) -> None:
    client, _, _ = gw
    assert (await client.get("/api/v1/site")).status_code == 401
    site = (await client.get("/api/v1/site", headers=VIEWER)).json()
    assert (site["name"], site["plan"]) == ("滨江一期", {"url": "/api/v1/site/plan", "type": "image/svg+xml"})
    anemo = site["devices"][0]
    assert (anemo["name"], anemo["position"], anemo["plan_xy"]) == ("塔吊风速仪", "crane 1 jib", [0.25, 0.5])
    assert site["devices"][1]["plan_xy"] is None
    channels = {c["id"]: c for c in site["channels"]}
    wind = channels["anemo1.wind_speed"]
    assert (wind["unit"], wind["range"], wind["resolution"]) == ("m/s", [0, 60], 0.1)
    assert wind["limits"] == [
        {"rule": "wind_hi", "type": "threshold", "of": "value",
         "upper": {"yellow": 10, "orange": None, "red": 20}, "lower": None},
    ]  # fmt: skip
    pit = channels["pit.P3.disp_h"]["limits"]
    assert [(x["rule"], x["of"], x["upper"]["red"]) for x in pit] == [
        ("pit_total", "change", 30),
        ("pit_rate", "rate", 3),
    ]
    assert pit[1]["per"] == "day"


async def test_the_plan_is_served_without_rights_of_its_own(
    gw: tuple[httpx.AsyncClient, Runtime, FakeClock], tmp_path: Path
) -> None:
    client, _, _ = gw
    plan = await client.get("/api/v1/site/plan", headers=VIEWER)
    assert plan.status_code == 200 and plan.text == PLAN
    assert plan.headers["content-type"].startswith("image/svg+xml")
    assert "default-src 'none'" in plan.headers["content-security-policy"]
    (tmp_path / "plan.svg").unlink()  # gone since the start: 404, and the site names no plan
    assert (await client.get("/api/v1/site/plan", headers=VIEWER)).status_code == 404
    assert (await client.get("/api/v1/site", headers=VIEWER)).json()["plan"] is None


async def test_values_are_rounded_to_each_channels_resolution(
    gw: tuple[httpx.AsyncClient, Runtime, FakeClock],
) -> None:
    client, runtime, clock = gw
    t = clock.now - 30
    await feed(runtime, [t, t], [0, 1], [12.3456, 7.1301], [0, 0])
    channels = {c["id"]: c for c in (await client.get("/api/v1/channels", headers=VIEWER)).json()}
    assert channels["anemo1.wind_speed"]["value"] == 12.3
    assert channels["pit.P3.disp_h"]["value"] == 7.25  # to the nearest 0.25 mm
    raw = (await client.get("/api/v1/channels/pit.P3.disp_h/history", headers=VIEWER)).json()
    assert [p["value"] for p in raw["points"]] == [7.25]
    buckets = await client.get("/api/v1/channels/anemo1.wind_speed/history?step=1m", headers=VIEWER)
    point = buckets.json()["points"][0]
    assert (point["min"], point["max"], point["mean"], point["last"]) == (12.3, 12.3, 12.3, 12.3)


async def test_device_state_last_good_reading_and_staleness(
    gw: tuple[httpx.AsyncClient, Runtime, FakeClock],
) -> None:
    client, runtime, clock = gw

    async def anemo() -> dict[str, object]:
        devices = (await client.get("/api/v1/devices", headers=VIEWER)).json()
        return next(d for d in devices if d["id"] == "anemo1")

    before = await anemo()
    assert (before["state"], before["last_good"], before["last_reading_at"]) == ("no_data", None, None)
    assert before["stale_after_s"] == 30  # three report periods of 10 s
    t = clock.now - 5
    await feed(runtime, [t], [0], [8.04], [0])
    ok = await anemo()
    assert ok["state"] == "ok"
    assert ok["last_good"] == {"channel": "anemo1.wind_speed", "ts": "2027-01-15T07:59:55.000Z", "value": 8.0}
    await feed(runtime, [t + 1], [0], [math.nan], [Quality.BAD_VALUE])
    bad = await anemo()
    assert bad["state"] == "bad_data"
    assert bad["last_good"]["value"] == 8.0 and bad["last_reading_at"] == "2027-01-15T07:59:56.000Z"
    assert bad["readings"][0]["quality"] == "bad_value"
    clock.now += 60
    assert (await anemo())["state"] == "stale"
    await feed(runtime, [clock.now], [0], [math.nan], [Quality.BAD_COMM])
    assert (await anemo())["state"] == "failing"
    link = (await anemo())["link"]
    assert link is not None and link["connected"] is False  # the MQTT source never connected here


def crane_cycle(crane: str, start: float, peak: float) -> CraneCycle:
    return CraneCycle(crane, start, start + 90, 90.0, peak, peak / 6, peak / 6, 30.0, 40.0, 10.0,
                      55.0, 2.0, 6.5, False, 45, "set_down")  # fmt: skip


async def test_cycles_by_crane_and_time(gw: tuple[httpx.AsyncClient, Runtime, FakeClock]) -> None:
    client, runtime, clock = gw
    t0 = clock.now - 3600
    cycles = tuple(SiteCycle("s1", crane_cycle(c, t0 + 300 * i, 2.0 + i)) for i, c in enumerate("ababa"))
    assert runtime.store is not None
    await runtime.store.write(SinkBatch(ReadingBatch.empty(), (), cycles))
    every = (await client.get("/api/v1/cycles", headers=VIEWER)).json()
    assert [c["crane"] for c in every["cycles"]] == list("ababa")[::-1]  # newest first
    assert every["truncated"] is False and every["end"] == "2027-01-15T08:00:00.000Z"
    only_b = (await client.get("/api/v1/cycles?crane=b", headers=VIEWER)).json()["cycles"]
    assert [c["peak_load_t"] for c in only_b] == [5.0, 3.0]
    since = "2027-01-15T07:11:00Z"  # after the third cycle started (07:10)
    later = (await client.get("/api/v1/cycles", params={"start": since}, headers=VIEWER)).json()
    assert len(later["cycles"]) == 2 and later["cycles"][0]["start"] == "2027-01-15T07:20:00.000Z"
    two = (await client.get("/api/v1/cycles?limit=2", headers=VIEWER)).json()
    assert len(two["cycles"]) == 2 and two["truncated"] is True
    wrong_way = {"start": "2027-01-15T08:00:00Z", "end": "2027-01-15T07:00:00Z"}
    backwards = await client.get("/api/v1/cycles", params=wrong_way, headers=VIEWER)
    assert backwards.status_code == 422 and "before" in backwards.json()["detail"]
    assert (await client.get("/api/v1/cycles?start=yesterday", headers=VIEWER)).status_code == 422
    assert (await client.get("/api/v1/cycles?limit=0", headers=VIEWER)).status_code == 422


async def test_cycles_without_a_store_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S_WANG", "wang-secret")
    (tmp_path / "plan.svg").write_text(PLAN)
    runtime = Runtime(
        parse_config(SITE.replace("sinks:\n  - {type: sqlite, path: store.db}\n", "")), base_dir=tmp_path
    )
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        answer = await client.get("/api/v1/cycles", headers=VIEWER)
        assert answer.status_code == 503 and "no local store" in answer.json()["detail"]
        me = (await client.get("/api/v1/me", headers=VIEWER)).json()
    assert me == {"person": "王芳", "role": "viewer"}
