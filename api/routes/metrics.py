"""``/metrics`` in the Prometheus text format, read from the runtime's counters at scrape time.

Each app gets its own CollectorRegistry (made on the first scrape, kept in ``app.state``), never the
process-wide default one: several apps in one process (tests, a demo beside a gateway) would clash.
Open to all, like ``/api/v1/health``: a scraper or watchdog needs no token, and nothing here is more
than health shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.alarms.outbox import ReceiverStats
from gateway.forward.stats import ForwardStats
from gateway.health import AlarmsHealth, GatewayHealth

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


class MetricsSource(Protocol):
    """What the collector reads of the runtime."""

    def health_view(self) -> GatewayHealth: ...

    def forward_stats(self) -> Sequence[ForwardStats]: ...

    def store_stats(self) -> Mapping[str, int] | None:
        """``{"readings", "bytes", "evicted", "duplicates"}``, or None without a local store."""
        ...


def _forward(stats: Sequence[ForwardStats]) -> Iterator[Metric]:
    label = ["destination"]
    depth = GaugeMetricFamily(
        "smartsite_forward_queue_depth", "Records waiting to be sent to the destination", labels=label
    )
    age = GaugeMetricFamily(
        "smartsite_forward_oldest_unsent_age_seconds",
        "Age of the oldest record not yet acknowledged by the destination (0 when none waits)",
        labels=label,
    )
    sent = CounterMetricFamily(
        "smartsite_forward_sent_records", "Records acknowledged by the destination", labels=label
    )
    messages = CounterMetricFamily(
        "smartsite_forward_sent_messages", "Messages (requests, publishes) acknowledged", labels=label
    )
    failed = CounterMetricFamily(
        "smartsite_forward_failed_records", "Records in failed send attempts (retried)", labels=label
    )
    dropped = CounterMetricFamily(
        "smartsite_forward_dropped_records",
        "Records that will never reach the destination, by reason",
        labels=["destination", "reason"],
    )
    connected = GaugeMetricFamily(
        "smartsite_forward_connected", "1 when the link to the destination is up", labels=label
    )
    alarm_wait = GaugeMetricFamily(
        "smartsite_forward_alarm_wait_seconds",
        "How long the latest live alarm event took from the store to the destination's acknowledgement",
        labels=label,
    )
    for s in stats:
        name = [s.destination]
        depth.add_metric(name, s.queue_depth)
        age.add_metric(name, s.oldest_unsent_age_s or 0.0)
        sent.add_metric(name, s.sent)
        messages.add_metric(name, s.sent_messages)
        failed.add_metric(name, s.failed)
        for reason, count in sorted(s.dropped.items()):
            dropped.add_metric([s.destination, reason], count)
        connected.add_metric(name, 1.0 if s.connected else 0.0)
        if s.alarm_wait_s is not None:
            alarm_wait.add_metric(name, s.alarm_wait_s)
    yield from (depth, age, sent, messages, failed, dropped, connected, alarm_wait)


def _health(health: GatewayHealth) -> Iterator[Metric]:
    yield CounterMetricFamily(
        "smartsite_readings", "Readings taken in by the analytics", value=health.readings
    )
    yield CounterMetricFamily(
        "smartsite_alarm_events", "Alarm events (raised, escalated, ...) made", value=health.alarm_events
    )
    rejected = CounterMetricFamily(
        "smartsite_rejected_readings", "Readings flagged unusable, by reason", labels=["reason"]
    )
    for reason, count in sorted(health.rejected.items()):
        rejected.add_metric([reason], count)
    yield rejected
    yield from _intake(health)
    connected = GaugeMetricFamily(
        "smartsite_source_connected", "1 when the source is connected", labels=["source"]
    )
    for source in health.sources:
        connected.add_metric([source.name], 1.0 if source.connected else 0.0)
    yield connected
    yield GaugeMetricFamily(
        "smartsite_alarms_active", "Alarms active in the data (not cleared)", value=health.alarms.active
    )
    yield GaugeMetricFamily(
        "smartsite_alarms_open", "Alarms not yet closed by people", value=health.alarms.open
    )
    chatter = health.chattering
    yield GaugeMetricFamily(
        "smartsite_alarms_chattering",
        "Alarms (channel, rule) that changed grade 3 or more times within 60 s since the start",
        value=chatter.alarms,
    )
    yield CounterMetricFamily(
        "smartsite_alarm_chattering_episodes",
        "Episodes of an alarm changing grade 3 or more times within 60 s",
        value=chatter.episodes,
    )
    worst = CounterMetricFamily(
        "smartsite_alarm_chattering_episodes_by_alarm",
        "Chattering episodes of the alarms that chattered most (up to ten)",
        labels=["channel", "rule"],
    )
    for item in chatter.worst:
        worst.add_metric([item.channel, item.rule], item.episodes)
    yield worst
    yield from _alarm_controls(health.alarms, health.pushes)
    restarts = CounterMetricFamily(
        "smartsite_task_restarts", "Restarts of a supervised task after it failed", labels=["task"]
    )
    for task in health.tasks:
        restarts.add_metric([task.name], task.restarts)
    yield restarts


def _intake(health: GatewayHealth) -> Iterator[Metric]:
    """How far behind the intake is (gateway.overload)."""
    intake = health.intake
    yield GaugeMetricFamily(
        "smartsite_intake_lag_seconds",
        "Wall clock at the latest analytics pass minus its newest reading time (0 on a quiet site)",
        value=intake.lag_s or 0.0,
    )
    yield GaugeMetricFamily(
        "smartsite_intake_waiting_batches",
        "Source batches waiting for the analytics",
        value=intake.waiting_batches,
    )
    yield GaugeMetricFamily(
        "smartsite_intake_behind",
        "1 while the intake is behind (a gateway alarm is raised)",
        value=intake.behind,
    )
    yield CounterMetricFamily(
        "smartsite_intake_behind_episodes", "Episodes of the intake falling behind", value=intake.episodes
    )
    if health.store_writer is not None:
        yield GaugeMetricFamily(
            "smartsite_intake_unstored_readings",
            "Readings judged and waiting to be stored",
            value=health.store_writer.waiting_readings,
        )


def _alarm_controls(alarms: AlarmsHealth, pushes: Sequence[ReceiverStats]) -> Iterator[Metric]:
    """Shelving, maintenance (检修) and alarm floods per receiver."""
    yield GaugeMetricFamily(
        "smartsite_alarms_shelved", "Alarms shelved by a supervisor now", value=alarms.shelved
    )
    yield GaugeMetricFamily(
        "smartsite_devices_in_maintenance",
        "Devices in maintenance now (their channels raise no alarm)",
        value=len(alarms.maintenance),
    )
    suppressed = CounterMetricFamily(
        "smartsite_alarm_suppressed",
        "Alarm events and pushes held back by shelving or maintenance, by what",
        labels=["what"],
    )
    # maintenance_held is a level, not a count: it is in health only.
    suppressed.add_metric(["maintenance_events"], alarms.suppressed.maintenance_events)
    suppressed.add_metric(["maintenance_notices"], alarms.suppressed.maintenance_notices)
    suppressed.add_metric(["shelved_notices"], alarms.suppressed.shelved_notices)
    yield suppressed
    label = ["receiver"]
    flooding = GaugeMetricFamily(
        "smartsite_push_flooding", "1 while the receiver is in an alarm flood (summaries)", labels=label
    )
    floods = CounterMetricFamily("smartsite_push_floods", "Alarm flood episodes", labels=label)
    summarised = CounterMetricFamily(
        "smartsite_push_flood_summarised_notices", "Notices sent inside flood summaries", labels=label
    )
    for push in pushes:
        name = [push.receiver]
        flooding.add_metric(name, 1.0 if push.flooding else 0.0)
        floods.add_metric(name, push.floods)
        summarised.add_metric(name, push.flood_summarised)
    yield from (flooding, floods, summarised)


def _store(stats: Mapping[str, int]) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "smartsite_store_readings", "Readings held in the local store", value=stats["readings"]
    )
    if "readings_written_since_start" in stats:
        yield CounterMetricFamily(
            "smartsite_store_written_readings",
            "Readings written to the local store since the gateway started",
            value=stats["readings_written_since_start"],
        )
    yield GaugeMetricFamily("smartsite_store_bytes", "Size of the local store on disk", value=stats["bytes"])
    yield CounterMetricFamily(
        "smartsite_store_evicted_records",
        "Records removed from the local store by retention",
        value=stats["evicted"],
    )
    yield CounterMetricFamily(
        "smartsite_store_duplicate_readings",
        "Readings ignored because the store already held one for that channel and time",
        value=stats["duplicates"],
    )


class GatewayCollector(Collector):
    """Reads the runtime at every scrape; one failing part is logged and counted, the rest still shown."""

    def __init__(self, source: MetricsSource) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        parts: list[tuple[str, Callable[[], Iterable[Metric]]]] = [
            ("health", lambda: _health(self._source.health_view())),
            ("forward", lambda: _forward(self._source.forward_stats())),
            ("store", self._store),
        ]
        failed = GaugeMetricFamily(
            "smartsite_metrics_collect_failed",
            "1 when a part of these metrics could not be read",
            labels=["part"],
        )
        out: list[Metric] = []
        for name, part in parts:
            try:
                metrics = list(part())  # all of a part or none of it
            except Exception:
                log.exception("metrics: reading %s failed", name)
                failed.add_metric([name], 1.0)
                continue
            out += metrics
            failed.add_metric([name], 0.0)
        out.append(failed)
        return out

    def _store(self) -> Iterable[Metric]:
        stats = self._source.store_stats()
        return () if stats is None else _store(stats)


def metrics_registry(request: Request) -> CollectorRegistry:
    """This app's registry, made on first use over ``app.state.runtime``."""
    state = request.app.state
    registry: CollectorRegistry | None = getattr(state, "metrics_registry", None)
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(GatewayCollector(state.runtime))
        state.metrics_registry = registry
    return registry


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(request: Request) -> Response:
    """Prometheus text format; open to all, like /api/v1/health."""
    # async on purpose: the counters belong to the event loop (the forwarders' stats are even
    # updated while read), so read them there, not from a pool thread. It is all memory and a stat().
    return Response(generate_latest(metrics_registry(request)), media_type=CONTENT_TYPE_LATEST)
