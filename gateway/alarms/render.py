"""Notices for one receiver → one message for its channel, in Chinese (default) or English.

Every message says what (channel, quantity), where (device, position), how bad (grade), value and
limit, how fast (rate) and when the limit will be reached (forecast), with a link to the alarm on the
dashboard. Several notices make one message: a title with the count and one line per notice, the
most severe first. The robots' markdown has a size limit (WeCom 4096 bytes): as many lines as fit,
then "… and N more". The webhook / MQTT document and the e-mail list every notice.

Keys read from ``Notice.alarm`` (all optional but ``id``): ``channel``, ``site``, ``grade``,
``max_grade``, ``value``, ``limit``, ``unit``, ``upward`` (bool: the limit is an upper one),
``device``, ``position``, ``what`` or ``description`` (the quantity in words), ``rate`` (a number in
unit per second, or ``{"value": 3.1, "unit": "mm/d"}``, or text), ``forecast`` (``time_to_limit_s``,
``failure_time``), ``tier``. From ``Notice.extra``: ``by``, ``note``, ``tier``, ``assignee``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drivers.notify.contract import Rendered
from gateway.alarms import wording
from gateway.alarms.notice import Notice, NoticeKind
from gateway.alarms.wording import is_number as _is_number
from gateway.alarms.wording import number
from gateway.vocab import iso_utc

MARKDOWN_LIMITS = {"wecom": 4096, "dingtalk": 20000}
MARKDOWN_TYPES = ("wecom", "dingtalk")
DOCUMENT_TYPE = "smartsite.notices"


@dataclass(frozen=True, slots=True)
class _Words:
    grades: Mapping[int, str]
    kinds: Mapping[str, str]
    normal: str
    title_one: str
    title_many: str  # {count} {detail}
    more: str  # {n}
    rate: str
    forecast: str  # {after}
    paren: str  # {text} in brackets
    badge: str  # {text} as the line's head
    reached: str
    limit: str
    by: str
    note: str
    tier: str
    assignee: str
    details: str
    sep: str
    list_sep: str


ZH = _Words(
    grades={1: "黄色预警", 2: "橙色报警", 3: "红色报警"},
    kinds={
        NoticeKind.RAISED: "新报警",
        NoticeKind.ESCALATED: "升级",
        NoticeKind.DEESCALATED: "降级",
        NoticeKind.CLEARED: "已恢复",
        NoticeKind.OVERDUE: "超时未确认(督办)",
        NoticeKind.REMINDER: "提醒",
        NoticeKind.ACKNOWLEDGED: "已确认",
        NoticeKind.CLOSED: "已销号",
    },
    normal="正常",
    title_one="{head}{what}",
    title_many="智慧工地报警通知 {count} 条（{detail}）",
    more="… 另有 {n} 条未列出",
    rate="速率 {rate}",
    forecast="预计 {after}后达到控制值",
    paren="（{text}）",
    badge="【{text}】",
    reached="已达到控制值",
    limit="控制值 {limit}",
    by="处理人 {who}",
    note="备注：{note}",
    tier="督办层级 {tier}",
    assignee="责任人 {who}",
    details="详情",
    sep="，",
    list_sep="，",
)

EN = _Words(
    grades={1: "Yellow warning", 2: "Orange alarm", 3: "Red alarm"},
    kinds={
        NoticeKind.RAISED: "new",
        NoticeKind.ESCALATED: "escalated",
        NoticeKind.DEESCALATED: "de-escalated",
        NoticeKind.CLEARED: "cleared",
        NoticeKind.OVERDUE: "overdue, not acknowledged",
        NoticeKind.REMINDER: "reminder",
        NoticeKind.ACKNOWLEDGED: "acknowledged",
        NoticeKind.CLOSED: "closed",
    },
    normal="Normal",
    title_one="{head}{what}",
    title_many="Site alarms: {count} notices ({detail})",
    more="… and {n} more",
    rate="rate {rate}",
    forecast="limit expected in {after}",
    paren=" ({text})",
    badge="[{text}]",
    reached="limit reached",
    limit="limit {limit}",
    by="by {who}",
    note="note: {note}",
    tier="escalated to {tier}",
    assignee="assigned to {who}",
    details="details",
    sep=", ",
    list_sep=", ",
)


def words(language: str) -> _Words:
    return EN if language == "en" else ZH


def _with_unit(value: Any, unit: str) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "—"
    return f"{number(float(value))} {unit}".rstrip()


def duration(seconds: float, language: str) -> str:
    """A span in the message's language (any language but English reads as Chinese, as ``words``)."""
    return wording.duration(seconds, "en" if language == "en" else "zh")


def rate_text(rate: Any, unit: str) -> str | None:
    """A rate as text; a bare number is taken as unit per second, shown per s/min/h/d."""
    if rate is None:
        return None
    if isinstance(rate, str):
        return rate or None
    if isinstance(rate, Mapping):
        value = rate.get("value")
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        return f"{number(float(value))} {rate.get('unit', '')}".rstrip()
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not math.isfinite(rate):
        return None
    per_s = float(rate)
    for scale, per in ((1.0, "s"), (60.0, "min"), (3600.0, "h"), (86400.0, "d")):
        if abs(per_s * scale) >= 1 or per == "d":
            return f"{number(per_s * scale)} {unit}/{per}" if unit else f"{number(per_s * scale)}/{per}"
    return None  # pragma: no cover - the loop always returns


def _grade_of(notice: Notice) -> int:
    alarm = notice.alarm
    grade = alarm.get("grade")
    if notice.kind in (NoticeKind.CLEARED, NoticeKind.CLOSED) or not grade:
        grade = alarm.get("max_grade") or grade
    return int(grade) if isinstance(grade, int | float) else 0


def _comparison(alarm: Mapping[str, Any], notice: Notice, language: str) -> str | None:
    value: Any = alarm.get("value")
    limit: Any = alarm.get("limit")
    unit = str(alarm.get("unit") or "")
    if not _is_number(value):
        return None
    if not _is_number(limit):
        return _with_unit(value, unit)
    if notice.kind == NoticeKind.CLEARED or not alarm.get("grade"):
        limit_text = words(language).limit.format(limit=_with_unit(limit, unit))
        return f"{_with_unit(value, unit)}{words(language).paren.format(text=limit_text)}"
    upward = alarm.get("upward")
    if upward is None:
        upward = float(value) >= float(limit)
    return f"{_with_unit(value, unit)} {'≥' if upward else '≤'} {_with_unit(limit, unit)}"


def _forecast(alarm: Mapping[str, Any], language: str) -> str | None:
    forecast = alarm.get("forecast")
    if not isinstance(forecast, Mapping):
        return None
    w = words(language)
    ttl = forecast.get("time_to_limit_s")
    when = forecast.get("failure_time")
    when_text = ""
    if isinstance(when, int | float) and math.isfinite(when):
        when = iso_utc(float(when))
    if isinstance(when, str) and when:
        when_text = w.paren.format(text=wording.short_time(when))
    if isinstance(ttl, int | float) and math.isfinite(ttl):
        if ttl <= 0:
            return w.reached
        return w.forecast.format(after=duration(float(ttl), language)) + when_text
    return when_text.strip(" （）()") or None


def _lasted(alarm: Mapping[str, Any], language: str) -> str | None:
    """How long a cleared alarm was active (data time from its raise to its clear)."""
    try:
        raised = datetime.fromisoformat(str(alarm.get("raised_at")).replace("Z", "+00:00"))
        cleared = datetime.fromisoformat(str(alarm.get("cleared_at")).replace("Z", "+00:00"))
    except ValueError:
        return None
    seconds = (cleared - raised).total_seconds()
    if seconds < 0:
        return None
    span = wording.duration(seconds, language)
    return f"持续 {span}" if language == "zh" else f"lasted {span}"


def link(alarm: Mapping[str, Any], dashboard_url: str) -> str | None:
    alarm_id = alarm.get("id")
    if not dashboard_url or not alarm_id:
        return None
    return f"{dashboard_url.rstrip('/')}/#/alarms/{alarm_id}"


@dataclass(frozen=True, slots=True)
class _Line:
    head: str  # 【红色报警】新报警
    subject: str  # channel position what
    facts: list[str]
    link: str | None
    grade: int


def _line(notice: Notice, language: str, dashboard_url: str) -> _Line:
    w = words(language)
    alarm = notice.alarm
    grade = _grade_of(notice)
    grade_name = w.grades.get(grade, w.normal)
    kind_name = w.kinds.get(notice.kind, notice.kind)
    where = [str(alarm.get(key)) for key in ("channel", "position") if alarm.get(key)]
    device = alarm.get("device")
    channel = str(alarm.get("channel") or "")
    if device and not channel.startswith(f"{device}."):
        where.insert(0, str(device))
    what = alarm.get("what") or alarm.get("description")
    if what:
        where.append(str(what))
    if not where and alarm.get("message"):
        where.append(str(alarm["message"]))
    facts: list[str] = []
    detail = alarm.get("detail")
    told = wording.describe(alarm, language) if isinstance(detail, Mapping) else None
    comparison = told or _comparison(alarm, notice, language)
    if comparison:
        where.append(comparison)
    rate = rate_text(alarm.get("rate"), str(alarm.get("unit") or ""))
    if rate:
        facts.append(w.rate.format(rate=rate))
    forecast_told = isinstance(detail, Mapping) and detail.get("kind") in wording.FORECAST_TOLD
    if (
        notice.kind not in (NoticeKind.CLEARED, NoticeKind.CLOSED, NoticeKind.ACKNOWLEDGED)
        and not forecast_told
    ):
        forecast = _forecast(alarm, language)
        if forecast:
            facts.append(forecast)
    if notice.kind == NoticeKind.CLEARED and (lasted := _lasted(alarm, language)):
        facts.append(lasted)
    extra = notice.extra
    tier = extra.get("tier") or (alarm.get("tier") if notice.kind == NoticeKind.OVERDUE else None)
    if tier and notice.kind == NoticeKind.OVERDUE:
        facts.append(w.tier.format(tier=tier))
    if extra.get("by"):
        facts.append(w.by.format(who=extra["by"]))
    if extra.get("assignee"):
        facts.append(w.assignee.format(who=extra["assignee"]))
    if extra.get("note"):
        facts.append(w.note.format(note=extra["note"]))
    return _Line(
        head=f"{w.badge.format(text=grade_name)}{kind_name}"
        if language == "zh"
        else f"{w.badge.format(text=grade_name)} {kind_name}",
        subject=" ".join(where),
        facts=facts,
        link=link(alarm, dashboard_url),
        grade=grade,
    )


def _plain(line: _Line, language: str) -> str:
    w = words(language)
    text = f"{line.head} {line.subject}".rstrip()
    if line.facts:
        text += w.sep + w.list_sep.join(line.facts)
    if line.link:
        text += f"{w.sep}{line.link}"
    return text


def _markdown(line: _Line, language: str) -> str:
    w = words(language)
    text = f"**{line.head}** {line.subject}".rstrip()
    if line.facts:
        text += w.sep + w.list_sep.join(line.facts)
    if line.link:
        text += f" [{w.details}]({line.link})"
    return text


def _title(lines: Sequence[_Line], language: str) -> str:
    w = words(language)
    if len(lines) == 1:
        return f"{lines[0].head} {lines[0].subject.split(' ')[0]}".rstrip()
    counts: dict[int, int] = {}
    for line in lines:
        counts[line.grade] = counts.get(line.grade, 0) + 1
    detail = w.list_sep.join(
        f"{w.grades.get(grade, w.normal)} {count}" for grade, count in sorted(counts.items(), reverse=True)
    )
    return w.title_many.format(count=len(lines), detail=detail)


def _cut(text: str, max_bytes: int) -> str:
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    return data[: max(0, max_bytes - len("…".encode()))].decode(errors="ignore") + "…"


def _fit(title: str, items: Sequence[str], max_bytes: int, language: str) -> str:
    """Title and as many items as fit in ``max_bytes``, then "… and N more"."""
    w = words(language)

    def more(n: int) -> str:
        return "\n" + w.more.format(n=n) if n else ""

    out = _cut(f"### {title}", max_bytes)
    used = len(out.encode())
    for index, item in enumerate(items):
        entry = "\n" + item
        # Room is kept for the "more" line as long as later items might not fit.
        reserve = len(more(len(items) - index - 1).encode())
        if used + len(entry.encode()) + reserve <= max_bytes:
            out += entry
            used += len(entry.encode())
        elif index == 0:
            # One line longer than the whole message: the robot still gets its start.
            entry = _cut(entry, max_bytes - used - reserve)
            out += entry
            used += len(entry.encode())
        else:
            return out + more(len(items) - index)
    return out


def _document(
    notices: Sequence[Notice], lines: Sequence[str], title: str, text: str, language: str, dashboard_url: str
) -> dict[str, Any]:
    return {
        "type": DOCUMENT_TYPE,
        "version": 1,
        "receiver": notices[0].receiver if notices else "",
        "language": language,
        "title": title,
        "text": text,
        "count": len(notices),
        "notices": [
            {
                "id": notice.id,
                "kind": notice.kind,
                "kind_text": words(language).kinds.get(notice.kind, notice.kind),
                "ts": iso_utc(notice.ts),
                "text": line,
                "link": link(notice.alarm, dashboard_url),
                "alarm": notice.alarm,
                **({"extra": notice.extra} if notice.extra else {}),
            }
            for notice, line in zip(notices, lines, strict=True)
        ],
    }


def render(
    notices: Sequence[Notice],
    receiver_type: str,
    language: str = "zh",
    dashboard_url: str = "",
) -> Rendered:
    """One message for one receiver listing ``notices`` (most severe first).

    ``receiver_type`` is the channel ("webhook", "wecom", "dingtalk", "email", "mqtt"): the robots get
    markdown cut to their size limit; e-mail gets plain text listing all; every type gets the full
    JSON document.
    """
    if not notices:
        raise ValueError("nothing to render: no notices")
    language = "en" if language == "en" else "zh"
    ordered = sorted(notices, key=lambda n: (-_grade_of(n), n.ts))
    parsed = [_line(notice, language, dashboard_url) for notice in ordered]
    title = _title(parsed, language)
    plain = [_plain(line, language) for line in parsed]
    full_text = title + "\n\n" + "\n".join(plain) if len(plain) > 1 else plain[0]
    if receiver_type in MARKDOWN_TYPES:
        items = [_markdown(line, language) for line in parsed]
        if len(items) > 1:
            items = [f"- {item}" for item in items]
        text = _fit(title, items, MARKDOWN_LIMITS[receiver_type], language)
    else:
        text = full_text
    return Rendered(
        title=title,
        text=text,
        document=_document(ordered, plain, title, full_text, language, dashboard_url),
        notice_ids=tuple(notice.id for notice in ordered),
    )


def render_pages(
    notices: Sequence[Notice],
    receiver_type: str,
    language: str = "zh",
    dashboard_url: str = "",
) -> list[Rendered]:
    """Messages that together list every notice: one, unless a robot's size limit needs more.

    A storm of alarms goes to a group robot as a few messages that each fit its limit, instead of
    one message cut short with "… and N more".
    """
    if receiver_type not in MARKDOWN_TYPES or len(notices) <= 1:
        return [render(notices, receiver_type, language, dashboard_url)]
    language = "en" if language == "en" else "zh"
    limit = MARKDOWN_LIMITS[receiver_type]
    ordered = sorted(notices, key=lambda n: (-_grade_of(n), n.ts))
    sizes = [len(("\n- " + _markdown(_line(n, language, dashboard_url), language)).encode()) for n in ordered]
    # Room for a title: the longest one a page can get, generously.
    budget = limit - 400
    pages: list[list[Notice]] = [[]]
    used = 0
    for notice, size in zip(ordered, sizes, strict=True):
        if pages[-1] and used + size > budget:
            pages.append([])
            used = 0
        pages[-1].append(notice)
        used += size
    return [render(page, receiver_type, language, dashboard_url) for page in pages]
