"""Real outages under load, with a real gateway process: nothing lost, nothing duplicated without an id.

The sensor broker stays up (it is on site); the platform broker or VictoriaMetrics (far away, over
4G) goes down for a minute (scaled in CI by SMARTSITE_FAULT_SCALE, never below 10 s).
"""

from __future__ import annotations

import asyncio
import signal
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.faults.harness import (
    GatewayProcess,
    PlatformConsumer,
    SensorLoad,
    consuming,
    published_keys,
    scaled,
    site_yaml,
    stored_event_ids,
    stored_keys,
)
from tests.support import Mosquitto, eventually, free_port
from tests.vm import VictoriaMetrics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture
def victoria_metrics(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    with VictoriaMetrics(tmp_path / "vm") as server:
        yield server


class PlatformSite(NamedTuple):
    """Sensors on the site's broker, a gateway process forwarding to the platform's broker."""

    sensors: Mosquitto
    platform: Mosquitto
    db: Path
    gateway: GatewayProcess
    consumer: PlatformConsumer


@pytest.fixture
def site(mosquitto_factory: type, tmp_path: Path) -> PlatformSite:
    sensors: Mosquitto = mosquitto_factory.new("sensors")  # type: ignore[attr-defined]
    platform: Mosquitto = mosquitto_factory.new("platform")  # type: ignore[attr-defined]
    api_port = free_port()
    db = tmp_path / "store.db"
    config = site_yaml(sensors.port, api_port, db, platform_port=platform.port)
    gateway = GatewayProcess(tmp_path, config, api_port)
    return PlatformSite(sensors, platform, db, gateway, PlatformConsumer(platform.port))


async def gateway_ready(gateway: GatewayProcess) -> None:
    async def subscribed() -> bool:
        health = await gateway.health()
        return bool(health and all(s["connected"] for s in health["sources"]))

    try:
        await eventually(subscribed, 30, "gateway up and subscribed")
    except AssertionError:
        raise AssertionError(gateway.log_tail()) from None


@asynccontextmanager
async def streaming(
    site: PlatformSite, seconds: float
) -> AsyncIterator[tuple[SensorLoad, asyncio.Task[None]]]:
    """The platform consumer subscribed, the gateway up and subscribed, the sensors publishing for
    ``seconds``; at the end the gateway must stop cleanly."""
    async with consuming(site.consumer):
        await eventually(lambda: site.consumer.subscribed, 10, "the platform consumer subscribed")
        site.gateway.start()
        try:
            await gateway_ready(site.gateway)
            load = SensorLoad(site.sensors.port)
            yield load, asyncio.create_task(load.run(seconds))
        finally:
            assert site.gateway.stop() == 0, site.gateway.log_tail()


def assert_each_stream_in_order(consumer: PlatformConsumer) -> None:
    """Per channel, the live stream and the backlog each arrive in time order; seq orders both."""
    first_arrival: dict[int, tuple[str, int, bool]] = {}
    for channel, ts, seq, live in consumer.readings:
        first_arrival.setdefault(seq, (channel, ts, live))  # a redelivered seq is a duplicate: dropped
    streams: dict[tuple[str, bool], list[int]] = defaultdict(list)
    by_seq: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for seq, (channel, ts, live) in first_arrival.items():
        streams[(channel, live)].append(ts)
        by_seq[channel].append((seq, ts))
    for key, stamps in streams.items():
        assert stamps == sorted(stamps), f"stream {key} out of order"
    for channel, pairs in by_seq.items():
        stamps = [ts for _, ts in sorted(pairs)]
        assert stamps == sorted(stamps), f"{channel}: seq order is not time order"


async def test_platform_broker_down_for_a_minute_loses_nothing(site: PlatformSite) -> None:
    _, platform, db, gateway, consumer = site
    before, outage, after = scaled(10, 5), scaled(60), scaled(20, 5)
    async with streaming(site, before + outage + after) as (load, publishing):
        await asyncio.sleep(before)
        platform.stop()  # the far side is gone: 4G cut, platform restarting
        await asyncio.sleep(outage)
        health = await gateway.health()
        assert health is not None
        (dest,) = health["destinations"]
        assert dest["queue_depth"] > 0 and dest["failed"] > 0, dest  # it really crossed an outage
        platform.start()
        await publishing
        expected = published_keys(load)
        assert len(expected) == load.total() >= 900 * (before + outage + after) // 1
        await eventually(lambda: consumer.distinct() >= expected, 120, "every reading at the platform")
        health = await gateway.health()

    assert consumer.distinct() == expected
    # Exactly once after dedup by id: no reading arrived under two different seqs.
    seq_of: dict[tuple[str, int], set[int]] = defaultdict(set)
    for channel, ts, seq, _ in consumer.readings:
        seq_of[(channel, ts)].add(seq)
    assert all(len(s) == 1 for s in seq_of.values())
    assert_each_stream_in_order(consumer)
    # Every alarm event the gateway stored reached the platform.
    events = stored_event_ids(db)
    assert len(events) >= 2
    assert events <= {a["id"] for a in consumer.alarms}
    assert health is not None and health["destinations"][0]["dropped"] == {}
    assert "recovered" in gateway.log_tail(100_000)


async def test_victoria_metrics_down_for_a_minute_loses_no_point(
    mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics, tmp_path: Path
) -> None:
    api_port = free_port()
    db = tmp_path / "store.db"
    config = site_yaml(mosquitto.port, api_port, db, influx_url=victoria_metrics.url)
    gateway = GatewayProcess(tmp_path, config, api_port)
    before, outage, after = scaled(10, 5), scaled(60), scaled(20, 5)
    gateway.start()
    try:
        await gateway_ready(gateway)
        load = SensorLoad(mosquitto.port)
        publishing = asyncio.create_task(load.run(before + outage + after))
        await asyncio.sleep(before)
        victoria_metrics.stop()
        await asyncio.sleep(outage)
        health = await gateway.health()
        assert health is not None and health["destinations"][0]["queue_depth"] > 0
        victoria_metrics.start()
        await publishing
        expected = published_keys(load)

        async def drained() -> bool:
            h = await gateway.health()
            return bool(h and h["destinations"][0]["queue_depth"] == 0)

        await eventually(drained, 120, "the backlog drained to VictoriaMetrics")
    finally:
        assert gateway.stop() == 0, gateway.log_tail()
    series = await victoria_metrics.wait_for_points_async(
        '{__name__="reading_value",site="f1"}', len(expected), 60
    )
    got = {(s["metric"]["channel"], int(ts)) for s in series for ts in s["timestamps"]}
    assert got == expected
    values = {s["metric"]["channel"]: s["values"] for s in series}
    assert set(values["s0.q0"]) == {5.0, 15.0}
    assert stored_keys(db) == expected


async def test_gateway_killed_mid_stream_loses_nothing_the_broker_acknowledged(site: PlatformSite) -> None:
    _, _, db, gateway, consumer = site
    before, down, after = scaled(10, 5), scaled(20, 3), scaled(10, 5)
    async with streaming(site, before + down + after) as (load, publishing):
        await asyncio.sleep(before)
        assert gateway.stop(signal.SIGKILL) == -signal.SIGKILL  # no goodbye, no drain
        killed_at = load.total()
        await asyncio.sleep(down)  # the sensors go on; their broker keeps the gateway's session
        gateway.start()
        await gateway_ready(gateway)
        await publishing
        expected = published_keys(load)
        assert load.total() > killed_at > 0
        await eventually(lambda: consumer.distinct() >= expected, 120, "every reading at the platform")
    assert stored_keys(db) == expected  # stored once each: a redelivered message is not stored twice
    assert consumer.distinct() == expected
    assert_each_stream_in_order(consumer)
