"""Alarm KPIs of a run (ISA-18.2 / EEMUA 191), for ``smartsite replay`` and ``smartsite evaluate``.

From the grade changes of every (channel, rule) over a span of data time:

- alarms: raises (a grade above 0 after 0); per hour of the span, and the peak in any 10 minutes
  (EEMUA: under about 1 per 10 minutes per operator in steady operation; over 10 is a flood);
- chattering: (channel, rule) pairs with 3 or more changes within 60 s, back and forth
  (``analytics.chatter``), with their number of episodes;
- standing: alarms still active at the end of the span, and episodes active longer than 24 h;
- the ten most frequent (channel, rule) by alarms raised (the "bad actors").

Vectorised over the changes (numpy); the changes may come in any order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from analytics.chatter import CHATTER_CHANGES, CHATTER_WINDOW_S, chattering, episode_starts
from gateway.vocab import AlarmEvent

PEAK_WINDOW_S = 600.0
STANDING_S = 86400.0
TOP = 10


@dataclass(frozen=True, slots=True)
class PairCount:
    channel: str
    rule: str
    alarms: int  # raised
    changes: int  # every grade change
    chattering_episodes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "rule": self.rule,
            "alarms": self.alarms,
            "changes": self.changes,
            "chattering_episodes": self.chattering_episodes,
        }


@dataclass(frozen=True, slots=True)
class AlarmKpis:
    hours: float  # the span judged
    alarms: int
    changes: int
    alarms_per_hour: float
    peak_10min: int
    peak_10min_start: float | None  # data time the busiest 10 minutes began
    chattering_pairs: int
    chattering_episodes: int
    standing_at_end: int
    standing_over_24h: int
    top: list[PairCount] = field(default_factory=list)
    chattering: list[PairCount] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hours": round(self.hours, 3),
            "alarms": self.alarms,
            "changes": self.changes,
            "alarms_per_hour": round(self.alarms_per_hour, 3),
            "peak_10min": self.peak_10min,
            "peak_10min_start": self.peak_10min_start,
            "chattering_pairs": self.chattering_pairs,
            "chattering_episodes": self.chattering_episodes,
            "standing_at_end": self.standing_at_end,
            "standing_over_24h": self.standing_over_24h,
            "top": [p.to_dict() for p in self.top],
            "chattering": [p.to_dict() for p in self.chattering],
        }

    def lines(self) -> list[str]:
        out = [
            f"alarms: {self.alarms:,} raised in {self.hours:,.1f} h ({self.alarms_per_hour:.2f}/h), "
            f"peak {self.peak_10min} in 10 min, {self.changes:,} grade changes",
            f"alarms: {self.chattering_pairs} chattering (channel, rule) "
            f"({self.chattering_episodes} episodes of {CHATTER_CHANGES}+ changes in {CHATTER_WINDOW_S:g} s), "
            f"{self.standing_at_end} active at the end, {self.standing_over_24h} active over 24 h",
        ]
        if self.top:
            worst = ", ".join(f"{p.channel} {p.rule} ({p.alarms})" for p in self.top[:5])
            out.append(f"alarms: most frequent: {worst}")
        return out


def alarm_kpis(
    ts: npt.ArrayLike,
    channel: list[str],
    rule: list[str],
    grade: npt.ArrayLike,
    start: float,
    end: float,
) -> AlarmKpis:
    """KPIs of the grade changes (ts, channel, rule, new grade) over the data span [start, end]."""
    t = np.asarray(ts, dtype=np.float64)
    g = np.asarray(grade, dtype=np.int64)
    n = len(t)
    hours = max(end - start, 0.0) / 3600.0 if np.isfinite(start) and np.isfinite(end) else 0.0
    pairs = list(zip(channel, rule, strict=True))
    names, key = _keys(pairs)
    order = np.lexsort((t, key))
    t, g, key = t[order], g[order], key[order]
    first = np.r_[True, key[1:] != key[:-1]] if n else np.zeros(0, dtype=bool)
    prev = np.where(first, 0, np.r_[0, g[:-1]])
    raised = (g > 0) & (prev == 0)
    cleared = (g == 0) & (prev > 0)

    # Peak: the most raises in any window [t, t + 10 min) that starts at a raise.
    rt = np.sort(t[raised])
    counts = np.searchsorted(rt, rt + PEAK_WINDOW_S, side="left") - np.arange(len(rt))
    busiest = int(np.argmax(counts)) if len(rt) else -1

    # Standing: each raise lasts until its pair's next clear, or the end of the span.
    positions = np.arange(n)
    next_clear = np.minimum.accumulate(np.where(cleared, positions, n)[::-1])[::-1]
    up = np.flatnonzero(raised)
    closes = next_clear[up]
    same = (closes < n) & (key[np.minimum(closes, n - 1)] == key[up]) if n else closes < 0
    until = np.where(same, t[np.minimum(closes, max(n - 1, 0))], end)
    open_at_end = int((~same).sum())
    long = int(((until - t[up]) > STANDING_S).sum())

    hit = chattering(t, key, g > prev, CHATTER_WINDOW_S, CHATTER_CHANGES)
    episodes = episode_starts(hit, key, t)
    m = len(names)
    per_alarms = np.bincount(key[raised], minlength=m)
    per_changes = np.bincount(key, minlength=m)
    per_chatter = np.bincount(key[episodes], minlength=m)

    def pair(i: int) -> PairCount:
        return PairCount(
            names[i][0], names[i][1], int(per_alarms[i]), int(per_changes[i]), int(per_chatter[i])
        )

    ranked = np.lexsort((np.arange(m), -per_changes, -per_alarms))
    top = [pair(int(i)) for i in ranked[:TOP] if per_changes[i] > 0]
    chat = np.flatnonzero(per_chatter > 0)
    chat = chat[np.argsort(-per_chatter[chat], kind="stable")]
    alarms = int(raised.sum())
    return AlarmKpis(
        hours=hours,
        alarms=alarms,
        changes=n,
        alarms_per_hour=alarms / hours if hours > 0 else 0.0,
        peak_10min=int(counts[busiest]) if busiest >= 0 else 0,
        peak_10min_start=float(rt[busiest]) if busiest >= 0 else None,
        chattering_pairs=len(chat),
        chattering_episodes=int(episodes.sum()),
        standing_at_end=open_at_end,
        standing_over_24h=long,
        top=top,
        chattering=[pair(int(i)) for i in chat[:TOP]],
    )


def kpis_of_events(events: Iterable[AlarmEvent], start: float, end: float) -> AlarmKpis:
    """KPIs of a run's alarm events (``smartsite evaluate``)."""
    listed = list(events)
    return alarm_kpis(
        [e.ts for e in listed],
        [e.channel for e in listed],
        [e.rule for e in listed],
        [e.grade for e in listed],
        start,
        end,
    )


class Steps(Protocol):
    """An alarm with its grade changes (``smartsite.replay.summary.AlarmInterval``)."""

    channel: str
    rule: str
    steps: list[tuple[float, int]]


def kpis_of_intervals(alarms: Mapping[str, Steps], start: float, end: float) -> AlarmKpis:
    """KPIs of a replay's alarms (each with its grade changes)."""
    ts: list[float] = []
    grade: list[int] = []
    channel: list[str] = []
    rule: list[str] = []
    for interval in alarms.values():
        ts += [s[0] for s in interval.steps]
        grade += [s[1] for s in interval.steps]
        channel += [interval.channel] * len(interval.steps)
        rule += [interval.rule] * len(interval.steps)
    return alarm_kpis(ts, channel, rule, grade, start, end)


def _keys(pairs: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], npt.NDArray[np.int64]]:
    index: dict[tuple[str, str], int] = {}
    key = np.fromiter((index.setdefault(p, len(index)) for p in pairs), dtype=np.int64, count=len(pairs))
    return list(index), key
