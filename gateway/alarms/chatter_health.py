"""What health and /metrics say about chattering alarms (counted by ``analytics.chatter``)."""

from __future__ import annotations

import math

import numpy as np

from analytics.chatter import CHATTER_CHANGES, CHATTER_WINDOW_S, ChatterCounter
from gateway.health import ChatterHealth, ChatteringAlarm
from gateway.vocab import iso_utc

SHOWN = 10


def chattering_health(counter: ChatterCounter, channel: list[str], rule: list[str]) -> ChatterHealth:
    """(channel, rule) pairs that changed grade 3+ times within 60 s since start, the worst first."""
    rows = counter.chattering_bindings
    worst = rows[np.argsort(-counter.episodes[rows], kind="stable")][:SHOWN]
    return ChatterHealth(
        alarms=len(rows),
        episodes=int(counter.episodes.sum()),
        changes=int(counter.chattering_changes.sum()),
        window_s=CHATTER_WINDOW_S,
        min_changes=CHATTER_CHANGES,
        worst=[
            ChatteringAlarm(
                channel=channel[b],
                rule=rule[b],
                episodes=int(counter.episodes[b]),
                last=iso_utc(float(counter.last_ts[b])) if math.isfinite(counter.last_ts[b]) else None,
            )
            for b in worst.tolist()
        ],
    )
