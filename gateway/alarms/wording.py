"""What an alarm judged, in words people understand, in Chinese or English, for every rule kind.

Two halves. ``event_detail`` turns a grade change of a binding into the alarm event's ``detail``:
plain JSON naming what the rule judged (crane: load, radius, rated load at that radius and both
ratios; combined: every condition; time to limit: the level now, the limit and the time left;
quality: which check). ``describe`` turns an alarm (event or record view, with its ``detail``) into
the words: what was judged, in its unit, against which limit. The alarm book uses it for the
event's ``message`` (English), the pushes for each receiver's language.

An alarm without ``detail`` (stored before it existed) is described from value, limit and unit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from analytics.crane import CRANE_DETAIL
from analytics.wind import wind_level

GRADES_EN = {0: "normal", 1: "yellow", 2: "orange", 3: "red"}
GRADES_ZH = {0: "正常", 1: "黄色", 2: "橙色", 3: "红色"}


@dataclass(frozen=True, slots=True)
class Facts:
    """What a binding's message needs beyond its transition: the rule kind and fixed facts
    (combined: the conditions with their channels and units; quality: the check, the channel's range
    and the spike window; rate: sustained or not; wind: the judged mean)."""

    kind: str = "threshold"
    facts: Mapping[str, Any] | None = None

    def get(self, key: str, default: Any = None) -> Any:
        return (self.facts or {}).get(key, default)


def _finite(x: float) -> float | None:
    return round(float(x), 6) if math.isfinite(x) else None


def event_detail(
    facts: Facts,
    old_grade: int,
    new_grade: int,
    value: float,
    limit: float,
    upward: bool,
    time_to_limit_s: float,
    failure_time: float,
    numbers: Sequence[float],
) -> dict[str, Any]:
    """The event's ``detail``: JSON-ready, language-neutral."""
    kind = facts.kind
    detail: dict[str, Any] = {"kind": kind}
    if kind == "crane":
        detail.update({name: _finite(x) for name, x in zip(CRANE_DETAIL, numbers, strict=False)})
    elif kind == "wind":
        # Grade 3 (and its clearing) is judged on the gust (the largest 3-s mean of the last
        # 10 minutes, GB/T 28591); grades 1 and 2 on the mean.
        by_gust = new_grade == 3 or (new_grade == 0 and old_grade == 3)
        detail["judged"] = "gust" if by_gust else facts.get("mean", "wind_2min")
        if math.isfinite(value):
            detail["level"] = int(wind_level(value))
    elif kind == "combined":
        conditions = []
        for cond, x in zip(facts.get("conditions", []), numbers, strict=False):
            conditions.append({**cond, "value": _finite(x)})
        detail["conditions"] = conditions
    elif kind == "quality":
        detail["check"] = facts.get("check", "")
        for key in ("range", "spike_window"):
            if facts.get(key) is not None:
                detail[key] = facts.get(key)
    elif kind == "rate":
        detail["sustained"] = bool(facts.get("sustained", False))
        if detail["sustained"]:
            detail["days"] = facts.get("days")
            detail["share"] = facts.get("share")
    elif kind == "acceleration":
        detail["windows"] = facts.get("windows")
    elif kind == "time_to_limit":
        detail["time_to_limit_s"] = _finite(time_to_limit_s)
    elif kind == "failure_forecast":
        detail["time_left_s"] = _finite(value)
        if math.isfinite(failure_time):
            detail["failure_time"] = _iso(failure_time)
    detail["upward"] = bool(upward)
    return detail


# --- words -----------------------------------------------------------------------------------------


def number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == 0 or abs(value) >= 0.01:
        return f"{round(value, 3):g}"
    return f"{value:.3g}"


def with_unit(value: Any, unit: str) -> str:
    if not is_number(value):
        return "—"
    return f"{number(float(value))} {unit}".rstrip()


def percent(ratio: Any) -> str:
    return f"{round(float(ratio) * 100):d} %" if is_number(ratio) else "—"


UNITS_EN = (" s", " min", " h", " d")
UNITS_ZH = (" 秒", " 分钟", " 小时", " 天")


def duration(seconds: float, language: str) -> str:
    s, minute, hour, day = UNITS_ZH if language == "zh" else UNITS_EN
    if seconds < 60:
        return f"{round(seconds):d}{s}"
    if seconds < 3600:
        return f"{round(seconds / 60):d}{minute}"
    if seconds < 48 * 3600:
        hours = seconds / 3600
        return f"{number(round(hours, 1) if hours < 10 else round(hours))}{hour}"
    return f"{number(round(seconds / 86400, 1))}{day}"


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def short_time(iso: str) -> str:
    """``2025-05-01T08:00:00.000Z`` → ``2025-05-01 08:00 UTC``; other text as it is."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_QUANTITY = {
    "wind_3s": ("3-s wind", "3秒风速"),
    "gust": ("gust", "阵风"),
    "wind_2min": ("2-min mean wind", "2分钟平均风速"),
    "wind_10min": ("10-min mean wind", "10分钟平均风速"),
}


def describe(alarm: Mapping[str, Any], language: str = "en") -> str | None:
    """What the alarm judged, in words: its value in its unit against its limit.

    ``alarm`` is an event or a record view: ``grade``, ``value``, ``limit``, ``unit``, ``detail``;
    grade 0 (or state ``cleared``) reads as the return to normal. None without a value to tell.
    """
    zh = language == "zh"
    detail = alarm.get("detail")
    detail = detail if isinstance(detail, Mapping) else {}
    kind = str(detail.get("kind") or "threshold")
    grade = int(alarm.get("grade") or 0) if is_number(alarm.get("grade")) else 0
    cleared = grade == 0 or alarm.get("state") == "cleared"
    value, limit = alarm.get("value"), alarm.get("limit")
    unit = str(alarm.get("unit") or "")
    words = _DESCRIBERS.get(kind, _threshold)
    return words(detail, grade, cleared, value, limit, unit, zh)


# Sentences by key, in English and Chinese; ``{…}`` fields are filled by the describers below.
TEXT: dict[str, tuple[str, str]] = {
    "value": ("value {v}", "当前值 {v}"),
    "over": ("{v} {sign} {what} {lim}", "{v} {sign} {what} {lim}"),
    "back": ("back to {v} (limit {lim})", "已恢复至 {v}（控制值 {lim}）"),
    "rate_over": ("rate {v} {sign} {what} {lim}", "变化速率 {v} {sign} {what} {lim}"),
    "rate_back": ("rate back to {v} (limit {lim})", "变化速率回落至 {v}（控制值 {lim}）"),
    "sustained": (
        "daily rate {v} above {lim} ({share} of the rate limit) on {days} consecutive days",
        "日变化速率 {v}，连续 {days} 天超过 {lim}（控制速率的 {share}）",
    ),
    "sustained_back": (
        "daily rate {v}, no longer above {lim} day after day",
        "日变化速率 {v}，不再连续超过 {lim}",
    ),
    "accel": (
        "rate {v} growing over {windows} successive windows (at least {lim}): not converging",
        "速率 {v} 在连续 {windows} 个时间窗内持续增大（≥ {lim}），变形未收敛",
    ),
    "accel_back": ("rate {v}, no longer growing", "速率 {v}，不再持续增大"),
    "crane": (
        "load {load} at radius {radius}, rated load there {rated}: load ratio {lr}, moment ratio {mr}",
        "吊重 {load}，幅度 {radius}，该幅度额定起重量 {rated}：起重量比 {lr}，力矩比 {mr}",
    ),
    "crane_over": (" (≥ {what} {lim})", "（≥ {what} {lim}）"),
    "crane_back": (" (limit {lim})", "（控制值 {lim}）"),
    "level": (", level {level}", "，{level} 级"),
    "wind_back": ("{q} {v}{level} (limit {lim})", "{q} {v}{level}（控制值 {lim}）"),
    "wind_jib": ("{q} {v} ≥ the working limit {lim}", "{q} {v} ≥ 工作极限风速 {lim}"),
    "wind_mean": ("{q} {v}{level} ≥ the {what} {lim}", "{q} {v}{level} ≥ {what} {lim}"),
    "watch": ("watch level", "关注风级"),
    "stop": ("stop-lifting level", "停止吊装风级"),
    "all_of": ("all at once: {conds}", "同时满足：{conds}"),
    "all_of_back": ("no longer all of: {conds}", "条件不再同时满足（{conds}）"),
    "silent": ("no usable reading for {span}", "已 {span} 无有效读数"),
    "silent_back": ("readings again after {span} without one", "数据恢复（中断 {span}）"),
    "stuck": ("readings unchanged for {span} (stuck sensor?)", "读数 {span} 未变化（疑似传感器卡滞）"),
    "stuck_back": ("readings change again", "读数恢复变化"),
    "range": ("reading {v} outside the range {rng}", "读数 {v} 超出量程 {rng}"),
    "range_back": ("readings back inside the range {rng}", "读数回到量程内 {rng}"),
    "spike": (
        "isolated jump held back as a spike (off by {v}, threshold {lim})",
        "孤立跳变（偏离 {v}，阈值 {lim}），该读数未参与判定",
    ),
    "spike_back": ("no spike in the last {window} readings", "最近 {window} 个读数无跳变"),
    "ttl": (
        "at this trend the limit {lim} is reached in about {after} (now {v})",
        "按当前趋势约 {after}后达到控制值 {lim}（当前 {v}）",
    ),
    "ttl_reached": (
        "the trend has reached the limit {lim} (now {v})",
        "按趋势已达到控制值 {lim}（当前 {v}）",
    ),
    "ttl_back": (
        "the trend no longer nears the limit {lim} (now {v})",
        "趋势不再逼近控制值 {lim}（当前 {v}）",
    ),
    "failure": (
        "inverse-velocity failure forecast {when}in about {after}",
        "反速度法预测失稳：{when}约 {after}后",
    ),
    "failure_when": ("at {when}, ", "{when}，"),
    "failure_back": ("no failure forecast within the horizon any more", "反速度法不再预测近期失稳"),
}
GRADE_LIMITS = {
    1: ("the yellow limit", "黄色预警值"),
    2: ("the orange limit", "橙色报警值"),
    3: ("the red limit", "红色控制值"),
}


def _say(zh: bool, key: str, **fields: Any) -> str:
    return TEXT[key][1 if zh else 0].format(**fields)


def _grade_limit(grade: int, zh: bool) -> str:
    return GRADE_LIMITS.get(grade, ("the limit", "控制值"))[1 if zh else 0]


def _span(seconds: Any, zh: bool) -> str:
    return duration(float(seconds), "zh" if zh else "en") if is_number(seconds) else "—"


def _soon(seconds: Any, zh: bool) -> str:
    """Time left before a limit: whole minutes up to two hours (what a crew plans by), then hours."""
    if is_number(seconds) and 60 <= float(seconds) < 2 * 3600:
        return f"{round(float(seconds) / 60):d}{(UNITS_ZH if zh else UNITS_EN)[1]}"
    return _span(seconds, zh)


def _threshold(
    detail: Mapping[str, Any], grade: int, cleared: bool, value: Any, limit: Any, unit: str, zh: bool
) -> str | None:
    if not is_number(value):
        return None
    v = with_unit(value, unit)
    if not is_number(limit):
        return _say(zh, "value", v=v)
    lim = with_unit(limit, unit)
    if cleared:
        return _say(zh, "back", v=v, lim=lim)
    sign = "≥" if detail.get("upward", float(value) >= float(limit)) else "≤"
    return _say(zh, "over", v=v, sign=sign, what=_grade_limit(grade, zh), lim=lim)


def _rate(
    detail: Mapping[str, Any], grade: int, cleared: bool, value: Any, limit: Any, unit: str, zh: bool
) -> str | None:
    if not is_number(value):
        return None
    v, lim = with_unit(value, unit), with_unit(limit, unit)
    if detail.get("sustained"):
        if cleared:
            return _say(zh, "sustained_back", v=v, lim=lim)
        return _say(
            zh, "sustained", v=v, lim=lim, share=percent(detail.get("share")), days=detail.get("days")
        )
    if cleared:
        return _say(zh, "rate_back", v=v, lim=lim)
    sign = "≥" if detail.get("upward", True) else "≤"
    return _say(zh, "rate_over", v=v, sign=sign, what=_grade_limit(grade, zh), lim=lim)


def _acceleration(
    detail: Mapping[str, Any], grade: int, cleared: bool, value: Any, limit: Any, unit: str, zh: bool
) -> str | None:
    v, lim = with_unit(value, unit), with_unit(limit, unit)
    if cleared:
        return _say(zh, "accel_back", v=v)
    return _say(zh, "accel", v=v, lim=lim, windows=detail.get("windows"))


def _crane(
    detail: Mapping[str, Any], grade: int, cleared: bool, value: Any, limit: Any, unit: str, zh: bool
) -> str | None:
    load = detail.get("load")
    if not is_number(load):
        return _threshold(detail, grade, cleared, value, limit, unit, zh)
    text = _say(
        zh,
        "crane",
        load=with_unit(load, "t"),
        radius=with_unit(detail.get("radius"), "m"),
        rated=with_unit(detail.get("rated"), "t"),
        lr=percent(detail.get("load_ratio")),
        mr=percent(detail.get("moment_ratio")),
    )
    lim = percent(limit)
    return text + (
        _say(zh, "crane_back", lim=lim)
        if cleared
        else _say(zh, "crane_over", what=_grade_limit(grade, zh), lim=lim)
    )


def _wind(
    detail: Mapping[str, Any], grade: int, cleared: bool, value: Any, limit: Any, unit: str, zh: bool
) -> str | None:
    if not is_number(value):
        return None
    judged = str(detail.get("judged") or "wind_2min")
    q = _QUANTITY.get(judged, (judged, judged))[1 if zh else 0]
    v, lim = with_unit(value, unit or "m/s"), with_unit(limit, unit or "m/s")
    level = detail.get("level")
    level_text = _say(zh, "level", level=level) if isinstance(level, int) else ""
    if cleared:
        return _say(zh, "wind_back", q=q, v=v, level=level_text, lim=lim)
    if judged in ("wind_3s", "gust"):
        return _say(zh, "wind_jib", q=q, v=v, lim=lim)
    what = _say(zh, "watch") if grade == 1 else _say(zh, "stop")
    return _say(zh, "wind_mean", q=q, v=v, level=level_text, what=what, lim=lim)


def _combined(
    detail: Mapping[str, Any], grade: int, cleared: bool, value: Any, limit: Any, unit: str, zh: bool
) -> str | None:
    parts = []
    for cond in detail.get("conditions") or []:
        cunit = str(cond.get("unit") or "")
        above = cond.get("above")
        sign, bound = (">", above) if above is not None else ("<", cond.get("below"))
        now = with_unit(cond.get("value"), cunit)
        parts.append(f"{cond.get('channel')} {now} {sign} {with_unit(bound, cunit)}")
    if not parts:
        return _threshold(detail, grade, cleared, value, limit, unit, zh)
    conds = ("，" if zh else ", ").join(parts)
    return _say(zh, "all_of_back" if cleared else "all_of", conds=conds)


def _quality(
    detail: Mapping[str, Any], grade: int, cleared: bool, value: Any, limit: Any, unit: str, zh: bool
) -> str | None:
    check = str(detail.get("check") or "")
    if check == "silent":
        # Raised: the silence allowed; cleared: how long the channel was silent.
        return (
            _say(zh, "silent_back", span=_span(value, zh))
            if cleared
            else _say(zh, "silent", span=_span(limit, zh))
        )
    if check == "stuck":
        return _say(zh, "stuck_back") if cleared else _say(zh, "stuck", span=_span(limit, zh))
    if check == "out_of_range":
        rng = detail.get("range")
        rng_text = (
            f"[{number(rng[0])}, {number(rng[1])}] {unit}".rstrip() if isinstance(rng, list | tuple) else ""
        )
        if cleared:
            return _say(zh, "range_back", rng=rng_text)
        return _say(zh, "range", v=with_unit(value, unit), rng=rng_text)
    if check == "spike":
        # A cleared spike's value is the window (in readings), not a reading: never shown as one.
        if cleared:
            return _say(zh, "spike_back", window=detail.get("spike_window", "—"))
        return _say(zh, "spike", v=with_unit(value, unit), lim=with_unit(limit, unit))
    return _threshold(detail, grade, cleared, value, limit, unit, zh)


def _time_to_limit(
    detail: Mapping[str, Any], grade: int, cleared: bool, value: Any, limit: Any, unit: str, zh: bool
) -> str | None:
    v, lim = with_unit(value, unit), with_unit(limit, unit)
    ttl: Any = detail.get("time_to_limit_s")
    if cleared or not is_number(ttl):
        return _say(zh, "ttl_back", v=v, lim=lim)
    if float(ttl) <= 0:
        return _say(zh, "ttl_reached", v=v, lim=lim)
    return _say(zh, "ttl", v=v, lim=lim, after=_soon(ttl, zh))


def _failure_forecast(
    detail: Mapping[str, Any], grade: int, cleared: bool, value: Any, limit: Any, unit: str, zh: bool
) -> str | None:
    if cleared:
        return _say(zh, "failure_back")
    when = detail.get("failure_time")
    when_text = _say(zh, "failure_when", when=short_time(str(when))) if when else ""
    return _say(zh, "failure", when=when_text, after=_soon(detail.get("time_left_s", value), zh))


def _weather(
    detail: Mapping[str, Any], grade: int, cleared: bool, value: Any, limit: Any, unit: str, zh: bool
) -> str | None:
    """A weather warning's alarm: its own words (headline and actions), made by gateway.weather."""
    text = detail.get("zh" if zh else "en")
    return str(text) if text else None


_DESCRIBERS = {
    "weather": _weather,
    "threshold": _threshold,
    "cumulative": _threshold,
    "crane": _crane,
    "wind": _wind,
    "combined": _combined,
    "quality": _quality,
    "rate": _rate,
    "acceleration": _acceleration,
    "time_to_limit": _time_to_limit,
    "failure_forecast": _failure_forecast,
}

# Kinds whose words already say when the limit will be reached (no separate forecast line).
FORECAST_TOLD = frozenset({"time_to_limit", "failure_forecast"})


def event_message(
    channel: str, state: str, grade: int, alarm: Mapping[str, Any], language: str = "en"
) -> str:
    """The event's one-line message: channel, grade and state, then what was judged."""
    text = describe(alarm, language) or ""
    if language == "zh":
        head = f"{channel} {'恢复正常' if grade == 0 else GRADES_ZH[grade]}（{_STATE_ZH.get(state, state)}）"
        return f"{head}：{text}" if text else head
    head = f"{channel} back to normal" if grade == 0 else f"{channel} {GRADES_EN[grade]} ({state})"
    return f"{head}: {text}" if text else head


_STATE_ZH = {"raised": "新报警", "escalated": "升级", "deescalated": "降级", "cleared": "已恢复"}
