"""What a replay found: counts, rejections, and each alarm's interval (for the report)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from gateway.vocab import AlarmEvent, AlarmState
from smartsite.replay.kpi import AlarmKpis, kpis_of_intervals


@dataclass(slots=True)
class AlarmInterval:
    """One alarm episode, for the report: raised ... cleared (``end`` None: still open at the end)."""

    channel: str
    rule: str
    start: float
    end: float | None
    max_grade: int
    steps: list[tuple[float, int]] = field(default_factory=list)  # (ts, grade) of each change


@dataclass(slots=True)
class ReplaySummary:
    input: str
    format: str
    rows: int = 0
    readings: int = 0  # handed to the analytics
    rejected: Counter[str] = field(default_factory=Counter)  # by the reader and by the analytics
    unknown_channels: Counter[str] = field(default_factory=Counter)
    events: int = 0
    seconds: float = 0.0
    first_ts: float = np.inf
    last_ts: float = -np.inf
    alarms: dict[str, AlarmInterval] = field(default_factory=dict)  # by alarm id
    workers: int = 1  # processes that shared the channels

    @property
    def kpis(self) -> AlarmKpis:
        """Alarm KPIs of the replay (alarms per hour, peak per 10 minutes, chattering, standing)."""
        return kpis_of_intervals(self.alarms, self.first_ts, self.last_ts)

    @property
    def throughput(self) -> float:
        """Rows per second, parsing included."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        out = [
            f"replay: {self.input} ({self.format}): {self.rows:,} rows, {self.readings:,} readings "
            f"analysed, {self.events:,} alarm events, {len(self.alarms):,} alarms",
            f"replay: {self.seconds:.2f} s, {self.throughput:,.0f} rows/s"
            + (f" on {self.workers} processes" if self.workers > 1 else ""),
        ]
        out += [f"replay: {line}" for line in self.kpis.lines()]
        if self.rejected:
            reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(self.rejected.items()))
            out.append(f"replay: rejected or flagged: {reasons}")
        if self.unknown_channels:
            top = self.unknown_channels.most_common(5)
            names = ", ".join(f"{name!r} ({n:,})" for name, n in top)
            more = len(self.unknown_channels) - len(top)
            out.append(
                f"replay: {len(self.unknown_channels)} unknown channel(s): {names}"
                + (f" and {more} more" if more > 0 else "")
            )
        return out


def track(alarms: dict[str, AlarmInterval], event: AlarmEvent) -> None:
    """Follow an event's alarm: its interval, its worst grade and each grade change."""
    interval = alarms.get(event.alarm_id)
    if interval is None:
        interval = AlarmInterval(event.channel, event.rule, event.ts, None, event.grade)
        alarms[event.alarm_id] = interval
    interval.max_grade = max(interval.max_grade, event.grade)
    interval.steps.append((event.ts, event.grade))
    if event.state == AlarmState.CLEARED:
        interval.end = event.ts
