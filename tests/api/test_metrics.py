"""GET /metrics: the Prometheus text format over the runtime's own counters, one registry per app."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import prometheus_client
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from api import create_app
from api.routes.metrics import GatewayCollector
from gateway.alarms.outbox import ReceiverStats
from gateway.forward.stats import ForwardStats
from gateway.health import GatewayHealth
from gateway.process.supervisor import TaskHealth
from gateway.vocab import ReadingBatch, SinkBatch
from tests.api.fake_runtime import FakeRuntime

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_VIEWER", "view-secret")
    monkeypatch.setenv("T_ADMIN", "admin-secret")


def _runtime(tmp_path: Path, anonymous: str = "viewer") -> FakeRuntime:
    runtime = FakeRuntime(tmp_path, store=None, anonymous=anonymous)
    runtime.forward = [
        ForwardStats(
            "platform",
            "mqtt",
            sent=120,
            sent_messages=12,
            failed=30,
            dropped=Counter({"evicted": 4, "rejected: bad payload": 2}),
            queue_depth=17,
            oldest_unsent_age_s=42.5,
            connected=True,
            alarm_wait_s=0.35,
        ),
        ForwardStats("influx", "influxdb", sent=7, sent_messages=1, queue_depth=0, oldest_unsent_age_s=None),
    ]
    runtime.store_counters = {"readings": 123456, "bytes": 7 * 1024 * 1024, "evicted": 99, "duplicates": 3}
    runtime.task_health["analytics"] = TaskHealth("analytics", restarts=2)
    runtime.task_health["sink:sqlite"] = TaskHealth("sink:sqlite")
    return runtime


async def _client(runtime: FakeRuntime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with runtime.desk, httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield client


async def _scrape(client: httpx.AsyncClient) -> tuple[Samples, dict[str, str]]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(response.text):
        types[family.name] = family.type
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = s.value
    return samples, types


def one(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def test_scrape_shows_the_runtime_counters(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    async for client in _client(runtime):
        # wind 12 then 25 (an alarm, raised then escalated), a NaN and an out-of-range value
        batch = ReadingBatch.from_lists(
            [1.0, 2.0, 3.0, 4.0], [0, 0, 0, 1], [12.0, 25.0, 99.0, float("nan")], [0] * 4
        )
        events = runtime.pipeline.process(batch)
        await runtime.desk.write(SinkBatch(batch, tuple(events)))
        health = runtime.health()
        samples, types = await _scrape(client)

    assert one(samples, "smartsite_readings_total") == health["readings"] == 4
    assert one(samples, "smartsite_alarm_events_total") == health["alarm_events"] == len(events) > 0
    assert health["rejected"] == {"out_of_range": 1, "non_finite": 1}
    for reason, count in health["rejected"].items():
        assert one(samples, "smartsite_rejected_readings_total", reason=reason) == count
    assert one(samples, "smartsite_alarms_active") == health["alarms"]["active"] == 1
    assert one(samples, "smartsite_alarms_open") == health["alarms"]["open"] == 1
    assert len(health["sources"]) == 1  # the MQTT input, never started here
    assert one(samples, "smartsite_source_connected", source=health["sources"][0]["name"]) == 0.0
    assert one(samples, "smartsite_task_restarts_total", task="analytics") == 2
    assert one(samples, "smartsite_task_restarts_total", task="sink:sqlite") == 0

    assert one(samples, "smartsite_forward_queue_depth", destination="platform") == 17
    assert one(samples, "smartsite_forward_oldest_unsent_age_seconds", destination="platform") == 42.5
    assert one(samples, "smartsite_forward_oldest_unsent_age_seconds", destination="influx") == 0.0
    assert one(samples, "smartsite_forward_alarm_wait_seconds", destination="platform") == 0.35
    # No alarm event sent to the TSDB yet: no sample rather than a made-up zero.
    assert ("smartsite_forward_alarm_wait_seconds", frozenset({("destination", "influx")})) not in samples
    assert one(samples, "smartsite_forward_sent_records_total", destination="platform") == 120
    assert one(samples, "smartsite_forward_sent_messages_total", destination="platform") == 12
    assert one(samples, "smartsite_forward_failed_records_total", destination="platform") == 30
    assert one(samples, "smartsite_forward_sent_records_total", destination="influx") == 7
    dropped = "smartsite_forward_dropped_records_total"
    assert one(samples, dropped, destination="platform", reason="evicted") == 4
    assert one(samples, dropped, destination="platform", reason="rejected: bad payload") == 2
    assert not any(name == dropped and ("destination", "influx") in labels for name, labels in samples)
    assert one(samples, "smartsite_forward_connected", destination="platform") == 1.0
    assert one(samples, "smartsite_forward_connected", destination="influx") == 0.0

    assert one(samples, "smartsite_store_readings") == 123456
    assert one(samples, "smartsite_store_bytes") == 7 * 1024 * 1024
    assert one(samples, "smartsite_store_evicted_records_total") == 99
    assert one(samples, "smartsite_store_duplicate_readings_total") == 3
    assert {
        one(samples, "smartsite_metrics_collect_failed", part=p) for p in ("health", "forward", "store")
    } == {0.0}

    assert types["smartsite_forward_sent_records"] == "counter"
    assert types["smartsite_forward_queue_depth"] == "gauge"
    assert types["smartsite_store_bytes"] == "gauge"
    assert types["smartsite_task_restarts"] == "counter"


async def test_no_store_means_no_store_series(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    runtime.store_counters = None
    async for client in _client(runtime):
        samples, _ = await _scrape(client)
    assert not any(name.startswith("smartsite_store_") for name, _ in samples)
    assert one(samples, "smartsite_metrics_collect_failed", part="store") == 0.0
    assert one(samples, "smartsite_forward_queue_depth", destination="platform") == 17


async def test_a_failing_part_leaves_the_others_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = _runtime(tmp_path)

    def broken() -> GatewayHealth:
        raise RuntimeError("health view broke")

    runtime.health_view = broken  # type: ignore[method-assign]
    async for client in _client(runtime):
        samples, _ = await _scrape(client)
    assert one(samples, "smartsite_metrics_collect_failed", part="health") == 1.0
    assert not any(name.startswith(("smartsite_readings", "smartsite_alarms_")) for name, _ in samples)
    assert one(samples, "smartsite_forward_queue_depth", destination="platform") == 17
    assert one(samples, "smartsite_store_readings") == 123456
    assert "reading health failed" in caplog.text and "health view broke" in caplog.text


async def test_two_apps_in_one_process_keep_their_own_registry(tmp_path: Path) -> None:
    first, second = _runtime(tmp_path / "a"), _runtime(tmp_path / "b")
    second.forward = [ForwardStats("platform", "mqtt", sent=5)]
    second.store_counters = {"readings": 1, "bytes": 2, "evicted": 0, "duplicates": 0}
    async for client_a in _client(first):
        async for client_b in _client(second):
            for _ in range(2):  # and a second scrape registers nothing twice
                a, _ = await _scrape(client_a)
                b, _ = await _scrape(client_b)
                assert one(a, "smartsite_forward_sent_records_total", destination="platform") == 120
                assert one(b, "smartsite_forward_sent_records_total", destination="platform") == 5
                assert (one(a, "smartsite_store_readings"), one(b, "smartsite_store_readings")) == (123456, 1)
    default = prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
    assert "smartsite_" not in default  # nothing leaked into the process-wide registry


async def test_open_to_scrapers_like_health(tmp_path: Path) -> None:
    async for client in _client(_runtime(tmp_path, anonymous="none")):
        assert (await client.get("/api/v1/channels")).status_code == 401
        assert (await client.get("/api/v1/health")).status_code == 200
        samples, _ = await _scrape(client)  # no token, still 200
        assert one(samples, "smartsite_forward_queue_depth", destination="platform") == 17
        assert (await client.get("/api/v1/metrics")).status_code == 404  # at the root, where Prometheus looks


async def test_shelving_maintenance_and_floods_are_scraped(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    async for client in _client(runtime):
        batch = ReadingBatch.from_lists([1.0, 2.0], [0, 0], [12.0, 25.0], [0, 0])
        await runtime.desk.write(SinkBatch(batch, tuple(runtime.pipeline.process(batch))))
        (record,) = runtime.desk.records.values()
        await runtime.desk.shelve(record.id, "li", "anemometer cleaned", 600)
        await runtime.desk.start_maintenance("pit.P3", "li", "re-zeroing", 600)
        samples, types = await _scrape(client)
    assert one(samples, "smartsite_alarms_shelved") == 1
    assert one(samples, "smartsite_devices_in_maintenance") == 1
    assert one(samples, "smartsite_alarm_suppressed_total", what="shelved_notices") == 0  # no receivers
    assert one(samples, "smartsite_alarm_suppressed_total", what="maintenance_events") == 0
    assert types["smartsite_alarm_suppressed"] == "counter"

    def receiver(name: str, flooding: bool, floods: int, summarised: int) -> ReceiverStats:
        return ReceiverStats(name, 0, 0, 0, 0, 0, 0.0, False, None, flooding, floods, 0, summarised)

    seen = runtime.health_view()
    flooded_view = dataclasses.replace(
        seen,
        alarms=dataclasses.replace(
            seen.alarms, suppressed=dataclasses.replace(seen.alarms.suppressed, maintenance_held=3)
        ),
        pushes=[receiver("robot", True, 2, 40), receiver("mail", False, 0, 0)],
    )

    class Flooded:
        def health_view(self) -> GatewayHealth:
            return flooded_view

        def forward_stats(self) -> list[ForwardStats]:
            return []

        def store_stats(self) -> None:
            return None

    registry = prometheus_client.CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(Flooded()))
    text = prometheus_client.generate_latest(registry).decode()
    assert 'smartsite_push_flooding{receiver="robot"} 1.0' in text
    assert 'smartsite_push_flooding{receiver="mail"} 0.0' in text
    assert 'smartsite_push_floods_total{receiver="robot"} 2.0' in text
    assert 'smartsite_push_flood_summarised_notices_total{receiver="robot"} 40.0' in text
    assert "maintenance_held" not in text  # a level in health, not a counter


async def test_chattering_alarms_in_health_and_metrics(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    async for client in _client(runtime):
        # Red at 1 s, back under the limits at 2 s: held a minute, then out at 62 s and straight
        # back in (yellow at 62.5 s, red at 63 s): 3 changes within 60 s, out and in again.
        batch = ReadingBatch.from_lists([1.0, 2.0, 62.5, 63.0], [0] * 4, [25.0, 5.0, 12.0, 25.0], [0] * 4)
        events = runtime.pipeline.process(batch)
        health = runtime.health()
        samples, _ = await _scrape(client)
    assert [(e.ts, e.grade) for e in events] == [(1.0, 3), (62.0, 0), (62.5, 1), (63.0, 3)]
    chatter = health["chattering"]
    assert (chatter["alarms"], chatter["episodes"], chatter["changes"]) == (1, 1, 1)
    assert chatter["worst"][0]["channel"] == "anemo1.wind_speed" and chatter["worst"][0]["rule"] == "wind"
    assert one(samples, "smartsite_alarms_chattering") == 1
    assert one(samples, "smartsite_alarm_chattering_episodes_total") == 1
    labels = {"channel": "anemo1.wind_speed", "rule": "wind"}
    assert one(samples, "smartsite_alarm_chattering_episodes_by_alarm_total", **labels) == 1


async def test_no_chattering_shows_zeros(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    async for client in _client(runtime):
        samples, _ = await _scrape(client)
        assert runtime.health()["chattering"]["worst"] == []
    assert one(samples, "smartsite_alarms_chattering") == 0
    assert one(samples, "smartsite_alarm_chattering_episodes_total") == 0


async def test_the_intake_lag_is_scraped(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    async for client in _client(runtime):
        runtime.pipeline.process(ReadingBatch.from_lists([runtime.clock() - 42.0], [0], [1.0], [0]))
        samples, types = await _scrape(client)
    assert 41.0 < one(samples, "smartsite_intake_lag_seconds") < 60.0
    assert one(samples, "smartsite_intake_behind") == 0.0  # one late pass is not overload
    assert one(samples, "smartsite_intake_waiting_batches") == 0.0
    assert types["smartsite_intake_behind_episodes"] == "counter"
