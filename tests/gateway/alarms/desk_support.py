"""What the alarm desk tests share: the escalation config, events, what was told to whom."""

from __future__ import annotations

from gateway.alarms.notice import Notice
from gateway.config.alarm_handling import AlarmsConfig, GradeSeconds, TierConfig
from gateway.vocab import AlarmEvent

TIERS = [
    TierConfig(name="safety officer", receivers=["officer"]),
    TierConfig(name="project manager", receivers=["pm", "pm-mail"]),
    TierConfig(name="company safety director", receivers=["director"]),
]
CONFIG = AlarmsConfig(tiers=TIERS, deadlines_s=GradeSeconds(yellow=600, orange=300, red=60), renotify_s=0)


def event(alarm_id: str, state: str, grade: int, ts: float, channel: str = "pit.P1.disp_h") -> AlarmEvent:
    return AlarmEvent(
        site="s", ts=ts, channel=channel, rule="disp", grade=grade, state=state, value=25.0,
        limit=21.0, unit="mm", message=f"{state} {grade}", alarm_id=alarm_id,
    )  # fmt: skip


def told(pushed: list[Notice]) -> list[tuple[str, str]]:
    return [(n.receiver, n.kind) for n in pushed]
