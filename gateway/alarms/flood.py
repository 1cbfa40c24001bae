"""Alarm floods per receiver (EEMUA 191): past the threshold, pushes become a summary until it ends.

A person told of more than ``alarms`` new alarms or grade rises within ``window_s`` (default: more
than 10 in 10 minutes) can no longer read them one by one. From then on, that receiver gets at most
one message per ``summary_every_s`` (a new red alarm sends the next one at once): how many notices,
by grade and kind, the red channels, the channels with most notices, and the dashboard link. The
flood ends when fewer than ``end_below`` were told within the window (hysteresis, so a flood does
not flip on and off); the next message is an ordinary one again. The JSON document (webhook, MQTT)
still lists every notice, with the summary beside them, so a platform loses nothing. Counted per
receiver in health and metrics.

State is in memory: after a restart the count starts afresh (the outbox still holds every notice).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from drivers.notify.contract import Rendered
from gateway.alarms.notice import Notice, NoticeKind
from gateway.alarms.render import MARKDOWN_TYPES, render, words
from gateway.config.alarm_handling import FloodConfig

log = logging.getLogger(__name__)

# What counts towards a flood: the notices that ask a person to look at something new.
ANNUNCIATIONS = frozenset({NoticeKind.RAISED, NoticeKind.ESCALATED})
TOP_CHANNELS = 5
MAX_NAME = 100  # characters of a channel id in the summary, so it always fits a robot's limit


@dataclass(slots=True)
class _Receiver:
    told: deque[float] = field(default_factory=deque)  # when each annunciation was made
    flooding: bool = False
    since: float | None = None
    floods: int = 0  # flood episodes
    summaries: int = 0  # summary messages rendered
    summarised: int = 0  # notices folded into summaries
    urgent: bool = False  # a red alarm came during the flood: the next summary goes at once


class FloodWatch:
    """Counts annunciations per receiver and says when that receiver is flooded."""

    def __init__(self, config: FloodConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._receivers: dict[str, _Receiver] = {}

    def _state(self, receiver: str) -> _Receiver:
        return self._receivers.setdefault(receiver, _Receiver())

    def note(self, notices: Sequence[Notice]) -> None:
        """The desk made ``notices`` (called when they are enqueued)."""
        now = self._clock()
        for receiver in {n.receiver for n in notices if n.kind in ANNUNCIATIONS}:
            state = self._state(receiver)
            mine = [n for n in notices if n.receiver == receiver and n.kind in ANNUNCIATIONS]
            state.told.extend(now for _ in mine)
            self._update(receiver, state, now)
            if state.flooding and any(_grade(n) >= 3 for n in mine):
                state.urgent = True

    def _update(self, receiver: str, state: _Receiver, now: float) -> None:
        while state.told and state.told[0] <= now - self.config.window_s:
            state.told.popleft()
        count = len(state.told)
        if not self.config.enabled:
            return
        if not state.flooding and count > self.config.alarms:
            state.flooding, state.since = True, now
            state.floods += 1
            log.warning(
                "receiver %s: alarm flood, %d alarms within %g s; pushes become a summary every %g s",
                receiver,
                count,
                self.config.window_s,
                self.config.summary_every_s,
            )
        elif state.flooding and count < self.config.end_below:
            log.info(
                "receiver %s: alarm flood over after %.0f s (%d notices summarised in all)",
                receiver,
                now - (state.since or now),
                state.summarised,
            )
            state.flooding, state.since = False, None

    def flooding(self, receiver: str) -> bool:
        state = self._state(receiver)
        self._update(receiver, state, self._clock())
        return state.flooding

    def group_window(self, receiver: str, normal_s: float) -> float:
        """How long the outbox waits between two messages to ``receiver``."""
        state = self._receivers.get(receiver)
        if state is None or not state.flooding or state.urgent:
            return normal_s
        return max(normal_s, self.config.summary_every_s)

    def sent(self, receiver: str, notices: int) -> None:
        """The receiver accepted a summary of ``notices`` notices (a failed one is not counted)."""
        state = self._state(receiver)
        state.summaries += 1
        state.summarised += notices

    def in_window(self, receiver: str) -> int:
        state = self._state(receiver)
        self._update(receiver, state, self._clock())
        return len(state.told)

    def stats(self, receiver: str) -> dict[str, Any]:
        state = self._state(receiver)
        self._update(receiver, state, self._clock())
        return {
            "flooding": state.flooding,
            "floods": state.floods,
            "flood_summaries": state.summaries,
            "flood_summarised": state.summarised,
            "alarms_in_window": len(state.told),
        }

    def summary(
        self, receiver: str, receiver_type: str, notices: Sequence[Notice], language: str, dashboard_url: str
    ) -> Rendered:
        """One message summarising ``notices`` for a flooded receiver (``sent`` counts it)."""
        state = self._state(receiver)
        state.urgent = False
        return summarise(
            notices, receiver_type, language, dashboard_url, len(state.told), self.config.window_s,
            self.config.summary_every_s,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Texts:
    title: str  # {alarms} {window} {count}
    by_grade: str
    by_kind: str
    red: str  # {channels}
    top: str  # {channels}
    times: str  # {channel} {n}
    every: str  # {every}
    link: str


ZH = _Texts(
    title="报警过多：{window}内 {alarms} 条报警，本条汇总 {count} 条通知",
    by_grade="按等级：",
    by_kind="按类型：",
    red="红色报警：{channels}",
    top="通知最多的测点：{channels}",
    times="{channel} {n} 条",
    every="报警过多期间每 {every}汇总一次，逐条详情见看板",
    link="看板报警列表",
)
EN = _Texts(
    title="Alarm flood: {alarms} alarms within {window}; {count} notices in this summary",
    by_grade="by grade: ",
    by_kind="by kind: ",
    red="red: {channels}",
    top="most notices: {channels}",
    times="{channel} ×{n}",
    every="during the flood, one summary every {every}; each alarm is on the dashboard",
    link="alarms on the dashboard",
)


def _grade(notice: Notice) -> int:
    alarm = notice.alarm
    grade = alarm.get("grade")
    if notice.kind in (NoticeKind.CLEARED, NoticeKind.CLOSED) or not grade:
        grade = alarm.get("max_grade") or grade
    return int(grade) if isinstance(grade, int | float) and not isinstance(grade, bool) else 0


def _channel(notice: Notice) -> str:
    return str(notice.alarm.get("channel") or notice.alarm.get("id") or "?")[:MAX_NAME]


def _span(seconds: float, language: str) -> str:
    minutes = seconds / 60
    if language == "en":
        return f"{minutes:g} min" if seconds >= 60 else f"{seconds:g} s"
    return f"{minutes:g} 分钟" if seconds >= 60 else f"{seconds:g} 秒"


def summarise(
    notices: Sequence[Notice],
    receiver_type: str,
    language: str,
    dashboard_url: str,
    alarms_in_window: int,
    window_s: float,
    every_s: float,
) -> Rendered:
    """The summary message; its document still lists every notice (from ``render``)."""
    if not notices:
        raise ValueError("nothing to summarise: no notices")
    language = "en" if language == "en" else "zh"
    w, t = words(language), EN if language == "en" else ZH
    grades = Counter(_grade(n) for n in notices)
    kinds = Counter(n.kind for n in notices)
    channels = Counter(_channel(n) for n in notices)
    red = sorted({_channel(n) for n in notices if _grade(n) >= 3 and n.kind in ANNUNCIATIONS})
    grade_text = w.list_sep.join(
        f"{w.grades.get(g, w.normal)} {c}" for g, c in sorted(grades.items(), reverse=True)
    )
    kind_text = w.list_sep.join(f"{w.kinds.get(k, k)} {c}" for k, c in kinds.most_common())
    top = channels.most_common(TOP_CHANNELS)
    top_text = w.list_sep.join(t.times.format(channel=c, n=n) for c, n in top)
    title = t.title.format(alarms=alarms_in_window, window=_span(window_s, language), count=len(notices))
    lines = [t.by_grade + grade_text, t.by_kind + kind_text]
    if red:
        shown = red[:TOP_CHANNELS]
        more = f" …(+{len(red) - len(shown)})" if len(red) > len(shown) else ""
        lines.append(t.red.format(channels=w.list_sep.join(shown)) + more)
    lines += [t.top.format(channels=top_text), t.every.format(every=_span(every_s, language))]
    url = f"{dashboard_url.rstrip('/')}/#/alarms" if dashboard_url else ""
    if receiver_type in MARKDOWN_TYPES:
        text = f"### {title}\n" + "\n".join(f"- {line}" for line in lines)
        if url:
            text += f"\n[{t.link}]({url})"
    else:
        text = title + "\n\n" + "\n".join(lines) + (f"\n{t.link}: {url}" if url else "")
    full = render(notices, "webhook", language, dashboard_url)
    flood = {
        "alarms_in_window": alarms_in_window,
        "window_s": window_s,
        "by_grade": {str(g): c for g, c in sorted(grades.items())},
        "by_kind": dict(kinds),
        "red_channels": red,
        "top_channels": [{"channel": c, "count": n} for c, n in top],
    }
    document = {**full.document, "title": title, "text": text, "flood": flood}
    return Rendered(title=title, text=text, document=document, notice_ids=full.notice_ids)
