"""Counters of one forwarding destination, read by /api/v1/health and /metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class ForwardStats:
    """``sent``/``failed``/``dropped`` count records (readings, events, cycles), not messages.

    ``failed`` counts failed send attempts (records in the attempt); ``dropped`` counts records
    that will never reach the destination, by reason (``rejected: <server reason>``, ``evicted``).
    ``queue_depth`` and ``oldest_unsent_age_s`` are refreshed by the forwarder as it works;
    ``alarm_wait_s`` is how long the latest live alarm event took from the store to the
    destination's acknowledgement, ``alarm_wait_max_s`` the longest since start.
    """

    destination: str
    kind: str  # "mqtt" or "influxdb"
    sent: int = 0
    sent_messages: int = 0
    failed: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    queue_depth: int = 0
    oldest_unsent_age_s: float | None = None
    connected: bool = False
    last_error: str | None = None
    alarm_wait_s: float | None = None
    alarm_wait_max_s: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "destination": self.destination,
            "kind": self.kind,
            "sent": self.sent,
            "sent_messages": self.sent_messages,
            "failed": self.failed,
            "dropped": dict(self.dropped),
            "queue_depth": self.queue_depth,
            "oldest_unsent_age_s": self.oldest_unsent_age_s,
            "connected": self.connected,
            "last_error": self.last_error,
            "alarm_wait_s": self.alarm_wait_s,
            "alarm_wait_max_s": self.alarm_wait_max_s,
        }
