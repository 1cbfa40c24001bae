"""GET /api/v1/channels/{id}/history over a real SQLite store file, through the real route and auth."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from api import create_app
from api.identity import Identity
from gateway.config import parse_config
from gateway.runtime import Runtime
from gateway.vocab import Quality, iso_utc
from tests.api.fake_runtime import SITE, FakeRuntime, Row, make_store

T0 = 1_699_999_200.0  # a whole hour (2023-11-14T22:00:00Z)
NOW = T0 + 2 * 3600
PIT = "pit.P3.disp_h"
WIND = "anemo1.wind_speed"
VIEWER = {"Authorization": "Bearer view-secret"}


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_VIEWER", "view-secret")
    monkeypatch.setenv("T_ADMIN", "admin-secret")


class Data:
    """Readings of the pit channel (random, some bad) and 6000 wind readings one second apart."""

    def __init__(self) -> None:
        rng = np.random.default_rng(11)
        n = 3000
        self.ts = T0 + np.sort(rng.choice(2 * 3600 * 1000, size=n, replace=False)) / 1000.0
        self.value = rng.normal(-12.0, 4.0, n)
        self.quality = rng.choice([0, 0, 0, 0, 0, 1, 0x10, 0x20, 0x40], size=n).astype(np.int64)
        self.value[self.quality == 0x20] = np.nan
        self.rows: list[Row] = [
            (float(t), PIT, None if np.isnan(v) else float(v), int(q))
            for t, v, q in zip(self.ts, self.value, self.quality, strict=True)
        ]
        self.rows += [(T0 + i, WIND, float(i % 17), 0) for i in range(6000)]


@pytest.fixture(scope="module")
def data() -> Data:
    return Data()


async def _client(runtime: FakeRuntime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with runtime.desk, httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield client


@pytest.fixture
async def gw(tmp_path: Path, data: Data) -> AsyncIterator[tuple[httpx.AsyncClient, FakeRuntime]]:
    runtime = FakeRuntime(tmp_path, make_store(tmp_path / "store.db", data.rows), now=NOW)
    async for client in _client(runtime):
        yield client, runtime


@pytest.fixture
async def closed(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    runtime = FakeRuntime(tmp_path, make_store(tmp_path / "store.db", []), anonymous="none", now=NOW)
    async for client in _client(runtime):
        yield client


def _numpy_buckets(data: Data, start: float, end: float, step: float) -> list[dict[str, Any]]:
    inside = (data.ts >= start) & (data.ts < end)
    ts, value, quality = data.ts[inside], data.value[inside], data.quality[inside]
    usable = (quality < Quality.BAD) & ~np.isnan(value)
    bucket = np.floor(ts / step) * step
    out = []
    for b in np.unique(bucket):
        here, good = bucket == b, (bucket == b) & usable
        v = value[good]
        out.append(
            {
                "ts": iso_utc(float(b)),
                "count": int(v.size),
                "bad": int((here & ~usable).sum()),
                "min": float(v.min()) if v.size else None,
                "max": float(v.max()) if v.size else None,
                "mean": float(v.mean()) if v.size else None,
                "last": float(v[np.argmax(ts[good])]) if v.size else None,
            }
        )
    return out


async def test_buckets_equal_numpy_for_a_dotted_channel(
    gw: tuple[httpx.AsyncClient, FakeRuntime], data: Data
) -> None:
    client, runtime = gw
    start, end = T0 + 100.5, T0 + 7000.25
    response = await client.get(
        f"/api/v1/channels/{PIT}/history", params={"start": start, "end": end, "step": "5m"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert runtime.history_calls == [(PIT, start, end, 300.0)]
    assert (body["channel"], body["step"], body["truncated"]) == (PIT, 300.0, False)
    assert (body["start"], body["end"]) == (iso_utc(start), iso_utc(end))
    expected = _numpy_buckets(data, start, end, 300.0)
    assert len(body["points"]) == len(expected) == 24  # 22:00 (partial) to 23:55 (partial)
    assert body["points"][0]["ts"] == "2023-11-14T22:00:00.000Z"  # epoch-aligned, before start
    for got, want in zip(body["points"], expected, strict=True):
        assert {k: got[k] for k in ("ts", "count", "bad", "min", "max", "last")} == {
            k: want[k] for k in ("ts", "count", "bad", "min", "max", "last")
        }
        assert got["mean"] == pytest.approx(want["mean"], rel=1e-12)
    assert sum(p["bad"] for p in body["points"]) > 0  # the data does have bad readings to leave out


async def test_bad_readings_counted_not_averaged(tmp_path: Path) -> None:
    rows: list[Row] = [
        (T0 + 1, PIT, 1.0, Quality.GOOD),
        (T0 + 2, PIT, 3.0, Quality.TIME_ESTIMATED),
        (T0 + 3, PIT, 500.0, Quality.BAD_RANGE),  # stored value, but unusable: must not move the mean
        (T0 + 4, PIT, None, Quality.BAD_VALUE),
        (T0 + 70, PIT, None, Quality.BAD_COMM),
    ]
    runtime = FakeRuntime(tmp_path, make_store(tmp_path / "s.db", rows), now=NOW)
    async for client in _client(runtime):
        body = (await client.get(f"/api/v1/channels/{PIT}/history?start={T0}&end={T0 + 120}&step=1m")).json()
        assert body["points"] == [
            {"ts": iso_utc(T0), "count": 2, "bad": 2, "min": 1.0, "max": 3.0, "mean": 2.0, "last": 3.0},
            {
                "ts": iso_utc(T0 + 60),
                "count": 0,
                "bad": 1,
                "min": None,
                "max": None,
                "mean": None,
                "last": None,
            },
        ]
        raw = (await client.get(f"/api/v1/channels/{PIT}/history?start={T0}&end={T0 + 120}")).json()
        assert raw["step"] is None and raw["truncated"] is False
        assert raw["points"][2:4] == [
            {"ts": iso_utc(T0 + 3), "value": 500.0, "quality": "bad_range"},
            {"ts": iso_utc(T0 + 4), "value": None, "quality": "bad_value"},
        ]
        assert raw["points"][1]["quality"] == "time_estimated"


async def test_raw_readings_are_capped_and_flagged_truncated(
    gw: tuple[httpx.AsyncClient, FakeRuntime],
) -> None:
    client, _ = gw
    body = (await client.get(f"/api/v1/channels/{WIND}/history", params={"start": T0, "end": NOW})).json()
    assert body["step"] is None and body["truncated"] is True
    points = body["points"]
    assert len(points) == 5000
    assert points[0] == {"ts": iso_utc(T0), "value": 0.0, "quality": "good"}  # oldest first
    assert points[-1] == {"ts": iso_utc(T0 + 4999), "value": float(4999 % 17), "quality": "good"}
    whole = (await client.get(f"/api/v1/channels/{WIND}/history?start={T0}&end={T0 + 4000}")).json()
    assert whole["truncated"] is False and len(whole["points"]) == 4000


async def test_defaults_are_the_last_hour_up_to_now(gw: tuple[httpx.AsyncClient, FakeRuntime]) -> None:
    client, runtime = gw
    body = (await client.get(f"/api/v1/channels/{WIND}/history")).json()
    assert runtime.history_calls == [(WIND, NOW - 3600, NOW, None)]
    assert (body["start"], body["end"]) == (iso_utc(NOW - 3600), iso_utc(NOW))
    # wind readings run from T0 to T0 + 5999 s: the last hour holds the last 2400 of them
    assert len(body["points"]) == 2400 and body["points"][0]["ts"] == iso_utc(NOW - 3600)
    await client.get(f"/api/v1/channels/{WIND}/history", params={"end": T0 + 5000})
    assert runtime.history_calls[-1] == (WIND, T0 + 1400, T0 + 5000, None)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2023-11-14T22:00:00Z", "2023-11-14T23:00:00Z"),
        ("2023-11-15T06:00:00+08:00", "2023-11-15T07:00:00+08:00"),
        ("2023-11-15T06:00:00 08:00", "2023-11-15T07:00:00 08:00"),  # an unencoded '+' arrives as ' '
        ("2023-11-14T17:00:00.000-05:00", "1700002800"),
        ("1699999200", "1700002800.0"),
    ],
)
async def test_iso_and_epoch_times_mean_the_same(
    gw: tuple[httpx.AsyncClient, FakeRuntime], start: str, end: str
) -> None:
    client, runtime = gw
    response = await client.get(
        f"/api/v1/channels/{WIND}/history", params={"start": start, "end": end, "step": 600}
    )
    assert response.status_code == 200, response.text
    assert runtime.history_calls == [(WIND, T0, T0 + 3600, 600.0)]
    assert [p["count"] for p in response.json()["points"]] == [600] * 6


async def test_plus_sign_in_a_raw_query_string(gw: tuple[httpx.AsyncClient, FakeRuntime]) -> None:
    client, runtime = gw
    # Hand-written URL: '+' unencoded (decoded as a space) and '%2B' (a real plus) both work.
    for plus in ("+", "%2B"):
        url = f"/api/v1/channels/{WIND}/history?start=2023-11-15T06:00:00{plus}08:00&end=1700002800"
        assert (await client.get(url)).status_code == 200
    assert runtime.history_calls == [(WIND, T0, T0 + 3600, None)] * 2


@pytest.mark.parametrize(
    ("step", "seconds"),
    [
        ("1m", 60.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("90", 90.0),
        ("0.5", 0.5),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
    ],
)
async def test_step_as_seconds_or_duration(
    gw: tuple[httpx.AsyncClient, FakeRuntime], step: str, seconds: float
) -> None:
    client, runtime = gw
    response = await client.get(
        f"/api/v1/channels/{WIND}/history", params={"start": T0, "end": T0 + 1800, "step": step}
    )
    assert response.status_code == 200, response.text
    assert response.json()["step"] == seconds and runtime.history_calls[-1][3] == seconds
    # every wind reading in the window is in exactly one bucket
    assert sum(p["count"] for p in response.json()["points"]) == 1800


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "yesterday"}, "start: 'yesterday' is neither ISO 8601"),
        ({"end": "2023-13-01T00:00:00Z"}, "end: '2023-13-01T00:00:00Z' is neither ISO 8601"),
        ({"start": "2023-11-14T22:00:00"}, "has no UTC offset"),
        ({"start": "nan"}, "start: 'nan' is neither ISO 8601"),
        ({"end": "1e20"}, "is not a time between 1970 and 9999"),
        ({"start": "-5"}, "is not a time between 1970 and 9999"),
        ({"start": T0 + 60, "end": T0}, "must be before end"),
        ({"start": T0, "end": T0}, "must be before end"),
        ({"step": "0"}, "step: '0' must be at least"),
        ({"step": "-60"}, "must be at least"),
        ({"step": "5x"}, "is neither seconds nor a duration"),
        ({"step": "1m5"}, "is neither seconds nor a duration"),
        ({"step": "inf"}, "is neither seconds nor a duration"),
        ({"start": T0, "end": T0 + 86400, "step": "1s"}, "86400 buckets, over the limit of 5000"),
    ],
)
async def test_bad_parameters_are_422_with_a_clear_message(
    gw: tuple[httpx.AsyncClient, FakeRuntime], params: dict[str, Any], message: str
) -> None:
    client, _ = gw
    response = await client.get(f"/api/v1/channels/{PIT}/history", params=params)
    assert response.status_code == 422
    assert message in response.json()["detail"]


async def test_unknown_channel_is_404(gw: tuple[httpx.AsyncClient, FakeRuntime]) -> None:
    client, runtime = gw
    response = await client.get("/api/v1/channels/pit.P9.disp_h/history")
    assert response.status_code == 404 and "pit.P9.disp_h" in response.json()["detail"]
    assert runtime.history_calls[-1][0] == "pit.P9.disp_h"
    # a path segment that is not a channel id at all does not reach the route
    assert (await client.get("/api/v1/channels/pit/P3/history")).status_code == 404


async def test_no_local_store_is_503(tmp_path: Path) -> None:
    async for client in _client(FakeRuntime(tmp_path, store=None, now=NOW)):
        response = await client.get(f"/api/v1/channels/{PIT}/history")
        assert response.status_code == 503 and response.json()["detail"] == "no local store configured"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": "Basic dmlldzp4"}, 401),
        (VIEWER, 200),
        ({"Authorization": "Bearer admin-secret"}, 200),
    ],
)
async def test_viewer_role_required(closed: httpx.AsyncClient, headers: dict[str, str], status: int) -> None:
    response = await closed.get(f"/api/v1/channels/{PIT}/history", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


async def test_a_role_below_viewer_is_forbidden(tmp_path: Path) -> None:
    runtime = FakeRuntime(tmp_path, make_store(tmp_path / "s.db", []), anonymous="none", now=NOW)
    app = create_app(runtime)
    # No config can give a token less than viewer; add one directly to reach the 403 branch.
    app.state.tokens._tokens.append((b"nobody-secret", Identity("none")))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        response = await client.get(
            f"/api/v1/channels/{PIT}/history", headers={"Authorization": "Bearer nobody-secret"}
        )
        assert response.status_code == 403 and "viewer" in response.json()["detail"]
    assert runtime.history_calls == []


async def test_the_store_is_read_through_the_channel_ts_index(
    gw: tuple[httpx.AsyncClient, FakeRuntime],
) -> None:
    client, runtime = gw
    for step in ("1m", None):
        params = {"start": T0, "end": NOW} | ({"step": step} if step else {})
        assert (await client.get(f"/api/v1/channels/{PIT}/history", params=params)).status_code == 200
    reads = [s for s in runtime.statements if "FROM readings" in s]
    assert len(reads) == 2
    assert runtime.store_path is not None
    with closing(sqlite3.connect(runtime.store_path)) as db:
        for statement in reads:
            plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}")]
            assert "SEARCH readings USING INDEX readings_channel_ts (channel=? AND ts>? AND ts<?)" in plan
            assert not any(p.startswith("SCAN readings") for p in plan), plan


async def test_published_in_openapi(gw: tuple[httpx.AsyncClient, FakeRuntime]) -> None:
    client, _ = gw
    spec = (await client.get("/api/v1/openapi.json")).json()
    operation = spec["paths"]["/api/v1/channels/{channel_id}/history"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"channel_id", "start", "end", "step"}


async def test_the_real_runtime_without_a_store_is_503(tmp_path: Path) -> None:
    runtime = Runtime(parse_config(SITE % "viewer"), base_dir=tmp_path)  # no sqlite sink configured
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with runtime.desk, httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        response = await client.get(f"/api/v1/channels/{PIT}/history")
    assert response.status_code == 503 and "store" in response.json()["detail"]
