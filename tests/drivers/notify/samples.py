from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from drivers.alarm_store import AlarmStore
from gateway.alarms.desk import AlarmDesk
from gateway.alarms.notice import Notice, NoticeKind
from gateway.config.alarm_handling import AlarmsConfig, GradeSeconds, TierConfig
from gateway.vocab import AlarmEvent

DASHBOARD = "http://gw.local:8080/"


def alarm(alarm_id: str = "a1", **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": alarm_id,
        "site": "demo",
        "channel": "pit.P3.disp_h",
        "device": "pit.P3",
        "position": "基坑南侧",
        "what": "水平位移",
        "rule": "pit_disp",
        "grade": 3,
        "max_grade": 3,
        "state": "raised",
        "value": 31.2,
        "limit": 30.0,
        "unit": "mm",
        "rate": {"value": 3.1, "unit": "mm/d"},
        "forecast": {"time_to_limit_s": 7200.0, "failure_time": "2025-05-01T08:00:00.000Z"},
    }
    record.update(changes)
    return record


def notice(
    notice_id: str = "n1", kind: str = NoticeKind.RAISED, receiver: str = "r1", **alarm_changes: Any
) -> Notice:
    extra = alarm_changes.pop("extra", {})
    return Notice(
        id=notice_id,
        receiver=receiver,
        kind=kind,
        ts=1_714_550_400.0,
        alarm=alarm(alarm_changes.pop("alarm_id", "a1"), **alarm_changes),
        extra=extra,
    )


def many(count: int, receiver: str = "r1") -> list[Notice]:
    return [
        notice(f"n{i}", receiver=receiver, alarm_id=f"a{i}", channel=f"pit.P{i}.disp_h", grade=1 + i % 3)
        for i in range(count)
    ]


async def desk_story(tmp_path: Path, renotify_s: float = 0) -> list[Notice]:
    """The notices a real desk makes for one alarm: raised orange, escalated to red and back,
    overdue to the project manager, a reminder (with ``renotify_s``), acknowledged with a note,
    cleared and closed."""
    config = AlarmsConfig(
        tiers=[
            TierConfig(name="安全员", receivers=["officer"]),
            TierConfig(name="项目经理", receivers=["pm"]),
        ],
        deadlines_s=GradeSeconds(orange=300),
        renotify_s=renotify_s,
        red_to_all_tiers=False,
    )
    now = [1_714_550_400.0]
    pushed: list[Notice] = []

    async def notify(notices: list[Notice]) -> None:
        pushed.extend(notices)

    where = {"pit.P3.disp_h": ("pit.P3", "基坑南侧")}
    store = AlarmStore(tmp_path / "story.db")
    async with AlarmDesk("demo", config, store, where, notify, lambda: now[0]) as desk:
        raise_ = AlarmEvent(
            site="demo", ts=now[0], channel="pit.P3.disp_h", rule="pit_disp", grade=2, state="raised",
            value=26.0, limit=25.0, unit="mm", message="orange", alarm_id="a1",
        )  # fmt: skip
        await desk.apply(raise_)
        red = dataclasses.replace(raise_, id="e2", state="escalated", grade=3, value=31.0, limit=30.0)
        await desk.apply(red)
        await desk.apply(dataclasses.replace(raise_, id="e3", state="deescalated", value=27.0))
        now[0] += 301
        await desk.escalate_due()  # overdue: the project manager is told
        if renotify_s:
            now[0] += renotify_s
            await desk.escalate_due()  # a reminder to both tiers
        await desk.ack("a1", "张工 (supervisor)", "已安排巡查")
        clear = AlarmEvent(
            site="demo", ts=now[0], channel="pit.P3.disp_h", rule="pit_disp", grade=0, state="cleared",
            value=20.0, limit=25.0, unit="mm", message="cleared", alarm_id="a1",
        )  # fmt: skip
        await desk.apply(clear)
        await desk.close("a1", "王工 (supervisor)", "加固完成")
    return pushed
