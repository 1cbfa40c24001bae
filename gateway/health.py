"""The gateway's health as typed parts: what ``/api/v1/health`` shows and ``/metrics`` reads.

``Runtime.health_view()`` builds a ``GatewayHealth``; ``as_dict()`` is its JSON form (the API
contract: keys and order as documented in docs/api.md). Parts that belong to one room and are
only shown, never read by another room (baselines, resume, store failover), stay that room's
plain data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from gateway.alarms.outbox import ReceiverStats
from gateway.forward.stats import ForwardStats
from gateway.overload import IntakeHealth
from gateway.process.supervisor import TaskHealth


@dataclass(frozen=True, slots=True)
class SourceHealth:
    name: str
    connected: bool
    rejected: dict[str, dict[str, int]] | None = None  # MQTT: per device, readings refused by reason
    devices: dict[str, dict[str, Any]] | None = None  # Modbus: per device, its poll counters

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "connected": self.connected}
        if self.rejected is not None:
            out["rejected"] = self.rejected
        if self.devices is not None:
            out["devices"] = self.devices
        return out


@dataclass(frozen=True, slots=True)
class StoreWriterHealth:
    written_batches: int
    waiting_readings: int
    retries: int
    failing: bool
    last_error: str | None


@dataclass(frozen=True, slots=True)
class SinkView:
    name: str
    written: int
    queue_depth: int
    retries: int
    dropped_batches: int
    kept_beyond_bound: int  # batches with alarm events kept past the queue's bound: never dropped
    failing: bool
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Suppressed:
    shelved_notices: int
    maintenance_events: int
    maintenance_notices: int
    maintenance_held: int  # a level, not a count


@dataclass(frozen=True, slots=True)
class AlarmsHealth:
    open: int  # not yet closed by people
    active: int  # active in the data
    notices: int
    shelved: int
    maintenance: list[dict[str, Any]]  # the windows now, as the maintenance API shows them
    suppressed: Suppressed


@dataclass(frozen=True, slots=True)
class ChatteringAlarm:
    channel: str
    rule: str
    episodes: int
    last: str | None  # ISO 8601


@dataclass(frozen=True, slots=True)
class ChatterHealth:
    """(channel, rule) pairs that changed grade ``min_changes``+ times within ``window_s``."""

    alarms: int
    episodes: int
    changes: int
    window_s: float
    min_changes: int
    worst: list[ChatteringAlarm]


@dataclass(frozen=True, slots=True)
class GatewayHealth:
    status: str  # "ok", or "degraded" while the store cannot write
    store_failover: dict[str, object] | None
    site: str
    uptime_s: float | None
    readings: int
    alarm_events: int
    crane_cycles: int
    analytics_failures: int
    rejected: dict[str, int]  # the analytics' reasons and the intake's time checks
    intake: IntakeHealth  # how far behind the analytics are (gateway.overload)
    sources: list[SourceHealth]
    clocks_off: list[str]
    store: dict[str, int] | None
    store_writer: StoreWriterHealth | None
    destinations: list[ForwardStats]
    sinks: list[SinkView]
    alarms: AlarmsHealth
    resumed: dict[str, Any] | None
    baselines: dict[str, int]
    chattering: ChatterHealth
    pushes: list[ReceiverStats]
    tasks: list[TaskHealth]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "sources":
                value = [s.as_dict() for s in self.sources]
            elif f.name == "destinations":
                value = [d.as_dict() for d in self.destinations]
            elif f.name == "tasks":
                value = [{"name": t.name, "restarts": t.restarts, "failing": t.failing} for t in self.tasks]
            elif dataclasses.is_dataclass(value) and not isinstance(value, type):
                value = dataclasses.asdict(value)
            elif f.name == "sinks":
                value = [dataclasses.asdict(v) for v in self.sinks]
            elif f.name == "pushes":
                value = [dataclasses.asdict(v) for v in self.pushes]
            out[f.name] = value
        return out
