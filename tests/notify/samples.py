from __future__ import annotations

from typing import Any

from gateway.alarms.notice import Notice, NoticeKind

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
