"""What a warning means for the site: its actions from the table, and the site alarm it raises.

Actions come from every row of the warning's event at or below its colour (the site file's table, or
``gateway/config/weather_actions.yaml``), each once; an update keeps the ticks of actions already
done. A warning in force with any ``alarm: true`` action raises one site alarm (channel
``weather.<event>``, rule ``weather_warning``, or ``weather_local`` for the site's own signal) of its
colour's grade; the alarm follows the warning (escalated, de-escalated) and clears when the
warning ends. Its events go the way every gateway alarm goes (the desk, the tiers and receivers,
``…/alarms``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from drivers.cap.codes import colour_rank
from drivers.cap.lifecycle import Applied
from drivers.cap.warning import WarningRecord
from gateway.config.weather import ActionRow
from gateway.vocab import AlarmEvent, AlarmState

# CMA colours to alarm grades: blue and yellow warn (yellow), orange and red as themselves.
GRADE_OF_COLOUR = {"blue": 1, "yellow": 1, "orange": 2, "red": 3}
RULE_OFFICIAL = "weather_warning"
RULE_LOCAL = "weather_local"
CHANNEL_PREFIX = "weather."


def actions_for(table: Sequence[ActionRow], event: str | None, colour: str | None) -> list[dict[str, Any]]:
    rank = colour_rank(colour) or 1  # a warning of unknown colour gets the blue row
    out: dict[str, dict[str, Any]] = {}
    for row in table:
        if row.event != event or colour_rank(row.colour) > rank:
            continue
        for action in row.actions:
            if action.id in out:
                out[action.id]["alarm"] = out[action.id]["alarm"] or action.alarm
                continue
            out[action.id] = {
                "id": action.id,
                "zh": action.zh,
                "en": action.en,
                "tell": list(action.tell),
                "alarm": action.alarm,
                "source": row.source,
                "done": False,
                "done_by": None,
                "done_at": None,
            }
    return list(out.values())


def warning_text(record: WarningRecord, zh: bool) -> str:
    """The push's words: headline (or event and colour), then the actions to take."""
    head = record.headline or f"{record.event_name or record.event} {record.colour or ''}".strip()
    if record.local:
        head = ("【本地】" if zh else "[local] ") + head
    if not record.in_force:
        ended = {"cancelled": "已解除", "expired": "已过期", "ended": "已结束"} if zh else {}
        if zh:
            return f"{head}（{ended.get(record.state, '已解除')}）"
        return f"{head} ({record.end_reason or record.state})"
    steps = [a["zh"] if zh else (a["en"] or a["zh"]) for a in record.actions]
    if not steps:
        return head
    return f"{head}：{'；'.join(steps)}" if zh else f"{head}: {'; '.join(steps)}"


class SiteMeaning:
    """The desk's ``prepare``: fills a changed warning's actions and makes its alarm events."""

    def __init__(self, site: str, table: Sequence[ActionRow]) -> None:
        self.site = site
        self.table = table

    def prepare(self, applied: Applied, now: float) -> list[AlarmEvent]:
        record = applied.record
        if record.in_force:
            done = {a["id"]: a for a in record.actions if a.get("done")}
            record.actions = [
                done.get(a["id"], a) for a in actions_for(self.table, record.event, record.colour)
            ]
        # A local signal's alarm is stamped with data time, as the analytics' alarms are.
        return self._alarm(record, record.updated_at if record.local else now)

    def _alarm(self, record: WarningRecord, now: float) -> list[AlarmEvent]:
        raises = record.in_force and any(a["alarm"] for a in record.actions)
        new = GRADE_OF_COLOUR.get(record.colour or "", 1) if raises else 0
        old = record.alarm_grade
        if new == old:
            return []
        if old == 0:
            record.alarm_id = None  # each raise is a new alarm
        record.alarm_grade = new
        alarm_id = record.alarm_id or uuid.uuid4().hex
        record.alarm_id = alarm_id
        return [
            AlarmEvent(
                site=self.site,
                ts=now,
                channel=CHANNEL_PREFIX + (record.event or "other"),
                rule=RULE_LOCAL if record.local else RULE_OFFICIAL,
                grade=new,
                state=AlarmState.of_transition(old, new),
                value=None,
                limit=None,
                unit="",
                message=warning_text(record, zh=False),
                alarm_id=alarm_id,
                detail={
                    "kind": "weather",
                    "warning": record.id,
                    "event": record.event,
                    "colour": record.colour,
                    "local": record.local,
                    "zh": warning_text(record, zh=True),
                    "en": warning_text(record, zh=False),
                },
            )
        ]
