from __future__ import annotations

import json
from pathlib import Path

from gateway.alarms.notice import NoticeKind
from gateway.alarms.render import duration, rate_text, render
from tests.drivers.notify.samples import DASHBOARD, desk_story, many, notice


def test_one_red_alarm_in_chinese_says_what_where_how_bad_how_fast_and_when() -> None:
    out = render([notice()], "email", "zh", DASHBOARD)
    assert out.title == "【红色报警】新报警 pit.P3.disp_h"
    line = out.text
    for part in (
        "【红色报警】新报警",
        "pit.P3.disp_h 基坑南侧 水平位移 31.2 mm ≥ 30 mm",
        "速率 3.1 mm/d",
        "预计 2 小时后达到控制值",
        "2025-05-01 08:00 UTC",
        "http://gw.local:8080/#/alarms/a1",
    ):
        assert part in line, (part, line)
    assert out.notice_ids == ("n1",)


def test_english_by_config() -> None:
    out = render([notice()], "email", "en", DASHBOARD)
    assert out.title == "[Red alarm] new pit.P3.disp_h"
    assert "31.2 mm ≥ 30 mm, rate 3.1 mm/d, limit expected in 2 h (2025-05-01 08:00 UTC)" in out.text
    assert "速率" not in out.text and "报警" not in out.text


def test_every_kind_and_grade_has_its_words() -> None:
    kinds = {
        NoticeKind.RAISED: "新报警",
        NoticeKind.ESCALATED: "升级",
        NoticeKind.DEESCALATED: "降级",
        NoticeKind.CLEARED: "已恢复",
        NoticeKind.OVERDUE: "超时未确认(督办)",
        NoticeKind.REMINDER: "提醒",
        NoticeKind.ACKNOWLEDGED: "已确认",
        NoticeKind.CLOSED: "已销号",
    }
    for kind, word in kinds.items():
        assert word in render([notice(kind=kind)], "wecom", "zh", DASHBOARD).text
    for grade, word in ((1, "黄色预警"), (2, "橙色报警"), (3, "红色报警")):
        assert word in render([notice(grade=grade, max_grade=grade)], "wecom", "zh").title


def test_cleared_shows_value_against_the_limit_and_no_forecast() -> None:
    out = render([notice(kind=NoticeKind.CLEARED, grade=0, max_grade=2, value=20.0)], "email", "zh")
    assert "【橙色报警】已恢复" in out.text
    assert "20 mm（控制值 30 mm）" in out.text
    assert "预计" not in out.text


async def test_every_kind_the_desk_makes_renders_with_its_words(tmp_path: Path) -> None:
    pushed = await desk_story(tmp_path, renotify_s=600)
    words = {
        NoticeKind.RAISED: "【橙色报警】新报警 pit.P3.disp_h 基坑南侧 26 mm ≥ 25 mm",
        NoticeKind.ESCALATED: "【红色报警】升级 pit.P3.disp_h 基坑南侧 31 mm ≥ 30 mm",
        NoticeKind.DEESCALATED: "【橙色报警】降级",
        NoticeKind.OVERDUE: "【橙色报警】超时未确认(督办)",
        NoticeKind.REMINDER: "【橙色报警】提醒",
        NoticeKind.ACKNOWLEDGED: "【橙色报警】已确认",
        NoticeKind.CLEARED: "【红色报警】已恢复 pit.P3.disp_h 基坑南侧 20 mm（控制值 25 mm）",
        NoticeKind.CLOSED: "【红色报警】已销号",
    }
    assert {n.kind for n in pushed} == set(words)
    for notice_ in pushed:
        text = render([notice_], "email", "zh", DASHBOARD).text
        assert words[notice_.kind] in text, (notice_.kind, text)
        assert "http://gw.local:8080/#/alarms/a1" in text


async def test_overdue_and_acknowledged_say_who_and_which_tier(tmp_path: Path) -> None:
    # Built by the desk, as in the gateway: the renderer reads what the desk writes.
    pushed = await desk_story(tmp_path)
    by_kind = {(n.kind, n.receiver): n for n in pushed}
    overdue = render([by_kind[(NoticeKind.OVERDUE, "pm")]], "email", "zh")
    assert "督办层级 项目经理" in overdue.text, overdue.text
    acked = render([by_kind[(NoticeKind.ACKNOWLEDGED, "officer")]], "email", "en")
    assert "by 张工 (supervisor)" in acked.text and "note: 已安排巡查" in acked.text, acked.text
    closed = render([by_kind[(NoticeKind.CLOSED, "pm")]], "wecom", "zh")
    assert "处理人 王工 (supervisor)" in closed.text and "备注：加固完成" in closed.text, closed.text
    # The officer, told before the escalation, is not told about the tier again; the raise says no one.
    raised = render([by_kind[(NoticeKind.RAISED, "officer")]], "email", "zh")
    assert "督办层级" not in raised.text and "处理人" not in raised.text


def test_lower_limit_and_numeric_rate() -> None:
    out = render([notice(value=-31.0, limit=-30.0, upward=False, rate=-3.6e-5)], "email", "zh")
    assert "-31 mm ≤ -30 mm" in out.text
    assert "速率 -3.11 mm/d" in out.text
    assert rate_text(0.02, "m/s") == "1.2 m/s/min"
    assert rate_text({"value": 3.14159, "unit": "mm/d"}, "mm") == "3.142 mm/d"
    assert duration(90, "zh") == "2 分钟" and duration(3 * 86400, "en") == "3 d"


def test_several_notices_make_one_message_listing_all_most_severe_first() -> None:
    notices = many(12)
    out = render(notices, "email", "zh", DASHBOARD)
    assert out.title.startswith("智慧工地报警通知 12 条")
    body_lines = [line for line in out.text.splitlines() if "pit.P" in line]
    assert len(body_lines) == 12
    assert body_lines[0].startswith("【红色报警】") and body_lines[-1].startswith("【黄色预警】")
    assert set(out.notice_ids) == {n.id for n in notices}
    english = render(notices, "email", "en", DASHBOARD)
    assert english.title.startswith("Site alarms: 12 notices (Red alarm 4")


def test_wecom_markdown_stays_under_4096_bytes_and_says_how_many_more() -> None:
    notices = many(200)
    out = render(notices, "wecom", "zh", DASHBOARD)
    size = len(out.text.encode())
    assert size <= 4096
    listed = out.text.count("\n- ")
    assert 5 < listed < 200
    assert out.text.rstrip().endswith(f"… 另有 {200 - listed} 条未列出")
    # The JSON document and the e-mail still list every notice.
    assert out.document["count"] == 200 and len(out.document["notices"]) == 200
    assert len(render(notices, "email", "zh").text.splitlines()) == 202
    english = render(notices, "wecom", "en")
    assert len(english.text.encode()) <= 4096 and "… and " in english.text


def test_one_huge_line_is_cut_to_fit() -> None:
    out = render([notice(position="北" * 3000)], "wecom", "zh")
    assert len(out.text.encode()) <= 4096
    assert out.text.endswith("…")


def test_document_is_json_with_every_notice_and_its_link() -> None:
    out = render(many(3), "webhook", "zh", DASHBOARD)
    document = json.loads(json.dumps(out.document))
    assert document["type"] == "smartsite.notices" and document["count"] == 3
    first = document["notices"][0]
    assert {"id", "kind", "kind_text", "ts", "text", "link", "alarm"} <= set(first)
    assert first["link"].startswith("http://gw.local:8080/#/alarms/a")


def test_missing_fields_do_not_break_rendering() -> None:
    bare = notice(value=None, limit=None, rate=None, forecast=None, position="", what=None, device=None)
    out = render([bare], "dingtalk", "zh")
    assert "pit.P3.disp_h" in out.text and "None" not in out.text
