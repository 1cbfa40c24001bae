"""Alarm floods per receiver: counted on a fake clock, the summary's content, and through the pushes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gateway.alarms.flood import FloodWatch, summarise
from gateway.alarms.notice import Notice, NoticeKind
from gateway.alarms.pushes import Pushes
from gateway.config.alarm_handling import AlarmsConfig, FloodConfig, WeComReceiver
from tests.drivers.notify.receivers import HttpRecorder
from tests.drivers.notify.samples import DASHBOARD, notice
from tests.support import FakeClock, eventually

DEFAULT = FloodConfig()  # EEMUA 191: more than 10 in 10 minutes


def raises(first: int, count: int, receiver: str = "r1", grade: int = 2) -> list[Notice]:
    return [
        notice(f"n{i}", receiver=receiver, alarm_id=f"a{i}", channel=f"pit.P{i % 4}.disp_h", grade=grade)
        for i in range(first, first + count)
    ]


def test_more_than_ten_alarms_in_ten_minutes_is_a_flood_per_receiver() -> None:
    clock = FakeClock()
    watch = FloodWatch(DEFAULT, clock)
    for batch in range(10):  # ten alarms a minute apart: busy, not a flood
        watch.note(raises(batch, 1))
        clock.now += 55
    assert not watch.flooding("r1") and watch.in_window("r1") == 10
    # Acknowledgements and clears do not count: they ask nobody to look at something new.
    watch.note([notice("k", kind=NoticeKind.ACKNOWLEDGED), notice("c", kind=NoticeKind.CLEARED)])
    assert not watch.flooding("r1")
    watch.note(raises(10, 1))  # the 11th within 10 minutes
    assert watch.flooding("r1") and watch.stats("r1")["floods"] == 1
    assert not watch.flooding("r2")  # another receiver is not flooded by r1's alarms
    assert watch.group_window("r1", 5.0) == 60.0 and watch.group_window("r2", 5.0) == 5.0
    # It ends when fewer than 5 remain within the window, not at the first dip under 11.
    clock.now += 600 - 55 * 5
    assert watch.flooding("r1") and watch.in_window("r1") == 5
    clock.now += 55
    assert not watch.flooding("r1") and watch.in_window("r1") == 4
    assert watch.stats("r1") == {
        "flooding": False, "floods": 1, "flood_summaries": 0, "flood_summarised": 0, "alarms_in_window": 4,
    }  # fmt: skip
    # A second burst is a second episode.
    watch.note(raises(20, 12))
    assert watch.flooding("r1") and watch.stats("r1")["floods"] == 2


def test_a_red_alarm_during_a_flood_does_not_wait_for_the_next_summary() -> None:
    clock = FakeClock()
    watch = FloodWatch(DEFAULT, clock)
    watch.note(raises(0, 11))
    assert watch.group_window("r1", 5.0) == 60.0
    watch.note(raises(11, 1, grade=3))
    assert watch.group_window("r1", 5.0) == 5.0
    watch.summary("r1", "wecom", raises(0, 12), "zh", DASHBOARD)
    assert watch.group_window("r1", 5.0) == 60.0
    assert watch.stats("r1")["flood_summaries"] == 0  # counted once the receiver accepted it
    watch.sent("r1", 12)
    assert watch.stats("r1")["flood_summaries"] == 1 and watch.stats("r1")["flood_summarised"] == 12


def test_disabled_counts_but_never_floods() -> None:
    watch = FloodWatch(FloodConfig(enabled=False), FakeClock())
    watch.note(raises(0, 50))
    assert not watch.flooding("r1") and watch.in_window("r1") == 50


def test_summary_counts_by_grade_and_kind_and_names_red_and_top_channels() -> None:
    notices = (
        raises(0, 9, grade=1) + raises(9, 3, grade=3) + [notice("c1", kind=NoticeKind.CLEARED, max_grade=2)]
    )
    out = summarise(notices, "wecom", "zh", DASHBOARD, alarms_in_window=12, window_s=600, every_s=60)
    assert out.title == "报警过多：10 分钟内 12 条报警，本条汇总 13 条通知"
    assert "- 按等级：红色报警 3，橙色报警 1，黄色预警 9" in out.text
    assert "- 按类型：新报警 12，已恢复 1" in out.text
    assert "- 红色报警：pit.P1.disp_h，pit.P2.disp_h，pit.P3.disp_h" in out.text
    assert "通知最多的测点：pit.P3.disp_h 4 条" in out.text  # a3, a7, a11 and the clear (of pit.P3)
    assert "[看板报警列表](http://gw.local:8080/#/alarms)" in out.text
    assert len(out.text.encode()) < 4096 and set(out.notice_ids) == {n.id for n in notices}
    # The document still lists every notice, with the summary beside them.
    document = json.loads(json.dumps(out.document))
    assert len(document["notices"]) == 13 and document["count"] == 13
    assert document["flood"]["by_grade"] == {"1": 9, "2": 1, "3": 3}
    assert document["flood"]["top_channels"][0] == {"channel": "pit.P3.disp_h", "count": 4}
    english = summarise(notices, "email", "en", DASHBOARD, 12, 600, 60)
    assert english.title == "Alarm flood: 12 alarms within 10 min; 13 notices in this summary"
    assert "red: pit.P1.disp_h, pit.P2.disp_h, pit.P3.disp_h" in english.text
    assert "alarms on the dashboard: http://gw.local:8080/#/alarms" in english.text
    with pytest.raises(ValueError):
        summarise([], "email", "en", DASHBOARD, 0, 600, 60)


async def test_a_flooded_robot_gets_summaries_then_ordinary_pushes_again(
    http: HttpRecorder, tmp_path: Path
) -> None:
    flood = FloodConfig(alarms=3, window_s=1.5, end_below=1, summary_every_s=0.4)
    receiver = WeComReceiver(id="robot", type="wecom", url=http.url("/wecom"))
    alarms = AlarmsConfig(receivers=[receiver], group_window_s=0.05, flood=flood, dashboard_url=DASHBOARD)

    def no_broker(url: str | None) -> object:
        raise AssertionError("no MQTT here")

    async with Pushes(alarms, tmp_path / "alarms.db", no_broker, "smartsite") as pushes:  # type: ignore[arg-type]
        await pushes.outbox.enqueue(raises(0, 3, receiver="robot"))
        await eventually(lambda: pushes.stats()["robot"].sent == 3, 10, "the first three sent")
        plain = [r.json()["markdown"]["content"] for r in http.on("/wecom")]
        assert all("报警过多" not in text for text in plain)
        for i in range(3, 20):  # a storm: 17 more within the window
            await pushes.outbox.enqueue(raises(i, 1, receiver="robot"))
        await eventually(lambda: pushes.stats()["robot"].sent == 20, 10, "the storm sent")
        stats = pushes.stats()["robot"]
        assert stats.floods == 1 and stats.flood_summarised == 17
        assert stats.flood_summaries < 17  # far fewer messages than notices
        texts = [r.json()["markdown"]["content"] for r in http.on("/wecom")][len(plain) :]
        assert texts and all(text.startswith("### 报警过多") for text in texts)
        assert sum(int(t.split("本条汇总 ")[1].split(" 条")[0]) for t in texts) == 17
        # Quiet for longer than the window: the flood is over and a push is an ordinary one again.
        await eventually(lambda: not pushes.stats()["robot"].flooding, 10, "the flood to end")
        await pushes.outbox.enqueue([notice("late", receiver="robot", alarm_id="z", channel="crane1.load")])
        await eventually(lambda: pushes.stats()["robot"].sent == 21, 10, "the ordinary push")
        last = http.on("/wecom")[-1].json()["markdown"]["content"]
        assert "crane1.load" in last and "报警过多" not in last
        assert pushes.stats()["robot"].alarms_in_window == 1
    await asyncio.sleep(0)
