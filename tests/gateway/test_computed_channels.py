"""Computed channels (wind means, gust, level, crane ratios) are stored, forwarded and in history.

The site runs through the real pipeline, store writer and local store; the wind channel's
``wind_10min`` is read back through ``Runtime.history`` and the API route, and the forward queue
hands the computed readings to a destination like the sensors' own.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import numpy as np
import pytest

from api import create_app
from drivers import SqliteStore
from drivers.store_history import RawPoint
from drivers.telemetry_json import encode_readings
from gateway.config import parse_config
from gateway.forward import Forwarder, ForwardStats
from gateway.forward.store_writer import StoreWriter
from gateway.pipeline import Pipeline
from gateway.runtime import Runtime
from gateway.site import Site
from gateway.vocab import ChannelMeta, ForwardChunk, ReadingBatch, RecordKind
from tests.gateway.forward.test_forwarder import FakeDestination
from tests.support import eventually

T0 = 1_699_999_200.0  # a whole hour: history buckets are epoch-aligned
SITE = """
site: {id: s1%s}
devices:
  - id: anemo1
    type: mqtt
    channels: {wind_speed: {unit: m/s, range: [0, 60]}}
  - id: crane1
    type: mqtt
    channels: {load: {unit: t, range: [0, 20]}, radius: {unit: m, range: [0, 60]}}
rules:
  - {id: wind_levels, type: wind, channels: [anemo1.wind_speed], mean: 2min, working_limit: 20}
  - id: crane_overload
    type: crane
    channels: [crane1.load]
    radius: crane1.radius
    chart: [[2.5, 6.0], [13.0, 6.0], [30.0, 2.5], [50.0, 1.3]]
sinks:
  - {type: sqlite, path: store.db}
api:
  anonymous_role: viewer
"""
COMPUTED = ("wind_3s", "wind_2min", "wind_10min", "gust", "wind_level")


def gusty_wind(seconds: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """1 Hz wind: AR(1) turbulence (time scale about 12 s) around 8 m/s, never below zero."""
    rng = np.random.default_rng(seed)
    phi = np.exp(-1 / 12)
    noise = rng.normal(0, 1.6 * np.sqrt(1 - phi**2), seconds)
    u = np.zeros(seconds)
    for i in range(1, seconds):
        u[i] = phi * u[i - 1] + noise[i]
    return T0 + np.arange(seconds, dtype=np.float64), np.clip(8.0 + u, 0.0, None)


def wind_batch(site: Site, ts: np.ndarray, speed: np.ndarray) -> ReadingBatch:
    col = site.index.column("anemo1.wind_speed")
    n = len(ts)
    return ReadingBatch(ts, np.full(n, col, np.int32), speed, np.zeros(n, np.uint8))


def reference_10min(ts: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """Mean over (t - 600 s, t] at every reading, computed directly."""
    csum = np.concatenate([[0.0], np.cumsum(speed)])
    start = np.searchsorted(ts, ts - 600.0, side="right")
    return (csum[np.arange(1, len(ts) + 1)] - csum[start]) / (np.arange(1, len(ts) + 1) - start)


async def all_stored(runtime: Runtime) -> bool:
    """Everything the pipeline handed on is in the local store (the alarm desk is not running)."""
    assert runtime.forwarding is not None
    return await runtime.forwarding.writer.drain(10)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """A real runtime with its store open and its writer running (no sources started)."""
    rt = Runtime(parse_config(SITE % ""), base_dir=tmp_path)
    assert rt.forwarding is not None
    async with AsyncExitStack() as stack:
        await rt.forwarding.enter(stack)
        writer = asyncio.create_task(rt.forwarding.writer.run())
        try:
            yield rt
        finally:
            writer.cancel()


async def test_wind_10min_has_history_after_a_run(runtime: Runtime) -> None:
    ts, speed = gusty_wind(1800)
    for start in range(0, len(ts), 97):  # batches as they come, cut anywhere
        runtime.pipeline.process(wind_batch(runtime.site, ts[start : start + 97], speed[start : start + 97]))
    assert await all_stored(runtime)

    result = await runtime.history("anemo1.wind_10min", T0, T0 + 1800, None)
    values = np.array([p.value for p in result.points if isinstance(p, RawPoint)])
    assert len(values) == len(ts)
    np.testing.assert_allclose(values, reference_10min(ts, speed), rtol=1e-9, atol=1e-9)
    for quantity in COMPUTED:
        stored = await runtime.history(f"anemo1.{quantity}", T0, T0 + 1800, None)
        assert len(stored.points) == len(ts), quantity

    # The API route reads the same history, in 5-minute buckets.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://gw"
    ) as client:
        reply = await client.get(
            "/api/v1/channels/anemo1.wind_10min/history",
            params={"start": T0, "end": T0 + 1800, "step": 300},
        )
    assert reply.status_code == 200, reply.text
    buckets = reply.json()["points"]
    assert len(buckets) == 6 and all(b["count"] == 300 for b in buckets)
    reference = reference_10min(ts, speed)
    assert buckets[-1]["max"] == pytest.approx(reference[-300:].max())


async def test_crane_ratios_stored_only_once_the_radius_is_known(runtime: Runtime) -> None:
    site = runtime.site
    load, radius = site.index.column("crane1.load"), site.index.column("crane1.radius")
    # A load before any radius gives no ratio; then radius 30 m (rated 2.5 t) and 2.0 t, 2.6 t.
    batch = ReadingBatch.from_lists(
        [T0, T0 + 1, T0 + 2, T0 + 3], [load, radius, load, load], [1.0, 30.0, 2.0, 2.6], [0, 0, 0, 0]
    )
    runtime.pipeline.process(batch)
    assert await all_stored(runtime)
    ratios = await runtime.history("crane1.load_ratio", T0, T0 + 10, None)
    assert [(p.ts, p.value) for p in ratios.points if isinstance(p, RawPoint)] == [
        (T0 + 2, pytest.approx(0.8)),
        (T0 + 3, pytest.approx(1.04)),
    ]


def split_between_times(batch: ReadingBatch, rng: np.random.Generator, cuts: int = 60) -> list[ReadingBatch]:
    """``batch`` (time-sorted) cut at random places between distinct times."""
    between = np.flatnonzero(np.diff(batch.ts) > 0) + 1
    edges = [0, *np.sort(rng.choice(between, size=cuts, replace=False)).tolist(), len(batch)]
    return [
        ReadingBatch(batch.ts[a:b], batch.channel[a:b], batch.value[a:b], batch.quality[a:b])
        for a, b in itertools.pairwise(edges)
    ]


def readings(dest: FakeDestination) -> list[ForwardChunk]:
    return [c for c in dest.got if c.kind == RecordKind.READINGS]


async def test_computed_channels_are_forwarded(tmp_path: Path) -> None:
    site = Site(parse_config(SITE % ""))
    engine, book = site.analytics()
    metas = [ChannelMeta(e.id, e.device.id, e.quantity, e.config.unit or "") for e in site.channels]
    dest = FakeDestination("up")
    async with SqliteStore(tmp_path / "s.db", metas, site="s1", destinations=["up"]) as store:
        forwarder = Forwarder(dest, store, ForwardStats("up", "fake"), backlog_rate=None)
        writer = StoreWriter(store, [forwarder])
        pipeline = Pipeline(engine, book, [], durable=writer)
        tasks = [asyncio.create_task(writer.run()), asyncio.create_task(forwarder.run())]
        try:
            ts, speed = gusty_wind(120)
            pipeline.process(wind_batch(site, ts, speed))
            assert await pipeline.drain(10)
            wanted = 120 * (1 + len(COMPUTED))
            await eventually(lambda: sum(len(c) for c in readings(dest)) >= wanted, 10, "all forwarded")
        finally:
            for task in tasks:
                task.cancel()
    sent = [metas[int(i)].id for c in readings(dest) for i in c.channel]
    for quantity in COMPUTED:
        assert sent.count(f"anemo1.{quantity}") == 120, quantity
    text = b"".join(encode_readings(c, metas) for c in readings(dest)).decode()
    assert '"anemo1.wind_10min"' in text


async def test_store_derived_false_keeps_only_the_sensors(tmp_path: Path) -> None:
    config = parse_config(SITE % ", store_derived: false")
    runtime = Runtime(config, base_dir=tmp_path)
    assert runtime.forwarding is not None
    async with AsyncExitStack() as stack:
        await runtime.forwarding.enter(stack)
        writer = asyncio.create_task(runtime.forwarding.writer.run())
        try:
            ts, speed = gusty_wind(60)
            runtime.pipeline.process(wind_batch(runtime.site, ts, speed))
            assert await all_stored(runtime)
            assert runtime.store is not None
            assert await runtime.store.count("readings") == 60
            wind = await runtime.history("anemo1.wind_10min", T0, T0 + 60, None)
        finally:
            writer.cancel()
    assert wind.points == ()
    # The engine still computes and judges them (the API's latest values show them).
    assert np.isfinite(runtime.engine.state.last_value[runtime.site.index.column("anemo1.wind_10min")])


def test_computed_readings_do_not_depend_on_how_the_stream_is_cut() -> None:
    """Wind means, gust, level and crane ratios of a synthetic site: whole, or in random cuts
    between distinct times (a radius and a load of the same instant are joined as they arrive, so a
    cut between them is a different stream)."""
    from tests.gateway.rules.test_site_engine import SITE as BUSY_SITE
    from tests.gateway.rules.test_site_engine import site_readings

    def computed(batches: list[ReadingBatch]) -> tuple[np.ndarray, ...]:
        engine, _ = Site(parse_config(BUSY_SITE)).analytics()
        parts = [engine.process(b.ts, b.channel, b.value, b.quality).derived for b in batches]
        ts = np.concatenate([p.ts for p in parts])
        ch = np.concatenate([p.channel for p in parts])
        value = np.concatenate([p.value for p in parts])
        order = np.lexsort((ch, ts))
        return ts[order], ch[order], value[order]

    whole = computed([site_readings()])
    cut = computed(split_between_times(site_readings(), np.random.default_rng(7)))
    assert len(whole[0]) > 10_000
    np.testing.assert_array_equal(cut[0], whole[0])
    np.testing.assert_array_equal(cut[1], whole[1])
    np.testing.assert_allclose(cut[2], whole[2], rtol=1e-9, atol=1e-12)
