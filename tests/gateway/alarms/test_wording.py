"""Messages people understand, for every rule kind, in English and Chinese.

Each case is a site file and readings shaped like the field; the readings go through the site's real
engine and alarm book, the events through the alarm desk, and the desk's notices through the
renderer, so the words are checked on what the gateway really makes (not on hand-built dicts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from drivers.alarm_store import AlarmStore
from gateway.alarms.desk import AlarmDesk
from gateway.alarms.notice import Notice
from gateway.alarms.render import render
from gateway.config import parse_config
from gateway.config.alarm_handling import AlarmsConfig, TierConfig
from gateway.site import Site
from gateway.vocab import AlarmEvent, ReadingBatch

T0 = 1_800_000_000.0
MIN, HOUR, DAY = 60.0, 3600.0, 86400.0

DEVICES = """
site: {id: s1}
devices:
  - id: crane1
    type: mqtt
    channels: {load: {unit: t, range: [0, 20]}, radius: {unit: m, range: [0, 60]}}
  - id: anemo1
    type: mqtt
    channels: {wind_speed: {unit: m/s, range: [0, 60]}}
  - id: pit.P1
    type: mqtt
    channels: {disp_h: {unit: mm, range: [-100, 200]}}
rules:
"""


@dataclass
class Run:
    events: list[AlarmEvent]
    notices: list[Notice]

    def of(self, rule: str) -> list[AlarmEvent]:
        return [e for e in self.events if e.rule == rule]

    def text(self, rule: str, state: str, language: str, grade: int | None = None) -> str:
        """The push of the first ``state`` notice of ``rule`` (and ``grade``), rendered."""
        for n in self.notices:
            if n.alarm["rule"] == rule and n.kind == state and grade in (None, n.alarm["grade"]):
                return render([n], "email", language).text
        raise AssertionError(
            f"no {state} notice of {rule}: {[(n.alarm['rule'], n.kind) for n in self.notices]}"
        )


Reading = tuple[float, str, float]


async def run(tmp_path: Path, rules: str, readings: Sequence[Reading], tick: float | None = None) -> Run:
    """Readings (any order) through the site's engine and book, then the desk; ``tick`` at the end
    (by default 15 minutes after the last reading, as the gateway's clock would: held grades fall)."""
    config = parse_config(DEVICES + rules)
    site = Site(config)
    engine, book = site.analytics()
    ts = np.array([r[0] for r in readings])
    col = np.array([site.index.column(r[1]) for r in readings], dtype=np.int32)
    value = np.array([r[2] for r in readings])
    order = np.argsort(ts, kind="stable")
    events: list[AlarmEvent] = []
    for part in np.array_split(order, max(1, len(order) // 50)):  # batches as they would arrive
        batch = ReadingBatch(ts[part], col[part], value[part], np.zeros(len(part), np.uint8))
        events += book.apply(engine.process(batch.ts, batch.channel, batch.value, batch.quality).transitions)
    events += book.apply(engine.tick(tick if tick is not None else float(ts.max()) + 900.0))
    notices: list[Notice] = []

    async def notify(found: list[Notice]) -> None:
        notices.extend(found)

    alarms = AlarmsConfig(tiers=[TierConfig(name="officer", receivers=["officer"])], renotify_s=0)
    where = {e.id: (e.device.id, e.device.position) for e in site.channels}
    async with AlarmDesk("s1", alarms, AlarmStore(tmp_path / "alarms.db"), where, notify, lambda: T0) as desk:
        for event in events:
            await desk.apply(event)
    return Run(events, notices)


def series(channel: str, start: float, step: float, values: Sequence[float]) -> list[Reading]:
    return [(start + i * step, channel, float(v)) for i, v in enumerate(values)]


async def test_threshold_says_value_and_grade_limit(tmp_path: Path) -> None:
    rules = """
  - {id: disp, type: threshold, channels: [pit.P1.disp_h], upper: {yellow: 21, orange: 25.5, red: 30}}
"""
    r = await run(tmp_path, rules, series("pit.P1.disp_h", T0, HOUR, [18, 22, 23, 19]))
    assert [e.state for e in r.of("disp")] == ["raised", "cleared"]
    assert r.of("disp")[0].message == "pit.P1.disp_h yellow (raised): 22 mm ≥ the yellow limit 21 mm"
    assert "22 mm ≥ the yellow limit 21 mm" in r.text("disp", "raised", "en")
    assert "pit.P1.disp_h 22 mm ≥ 黄色预警值 21 mm" in r.text("disp", "raised", "zh")
    cleared = r.text("disp", "cleared", "zh")
    assert "已恢复至 19 mm（控制值 21 mm）" in cleared and "持续 2 小时" in cleared
    assert "back to 19 mm (limit 21 mm), lasted 2 h" in r.text("disp", "cleared", "en")


CRANE = """
  - id: overload
    type: crane
    channels: [crane1.load]
    radius: crane1.radius
    chart: [[2.5, 6.0], [13.0, 6.0], [30.0, 2.5], [50.0, 1.3]]
"""


def lift(start: float, radius: float, loads: Sequence[float]) -> list[Reading]:
    """A lift at one radius, one message a second (radius and load)."""
    out: list[Reading] = []
    for i, load in enumerate(loads):
        out += [(start + i, "crane1.radius", radius), (start + i + 0.1, "crane1.load", load)]
    return out


async def test_crane_names_load_radius_rated_load_and_both_ratios(tmp_path: Path) -> None:
    r = await run(tmp_path, CRANE, lift(T0, 30.0, [0.05, 3.5, 3.5, 0.05]))
    events = r.of("overload")
    assert [(e.state, e.grade) for e in events] == [("raised", 3), ("cleared", 0)]
    assert events[0].channel == "crane1.load_ratio" and events[0].value == pytest.approx(1.4)
    detail = events[0].detail
    assert detail is not None and detail["kind"] == "crane"
    assert detail["load"] == 3.5 and detail["radius"] == 30.0 and detail["rated"] == pytest.approx(2.5)
    en = r.text("overload", "raised", "en")
    assert (
        "load 3.5 t at radius 30 m, rated load there 2.5 t: load ratio 140 %, moment ratio 140 % "
        "(≥ the red limit 110 %)"
    ) in en
    zh = r.text("overload", "raised", "zh")
    assert (
        "吊重 3.5 t，幅度 30 m，该幅度额定起重量 2.5 t：起重量比 140 %，力矩比 140 %（≥ 红色控制值 110 %）"
        in zh
    )
    assert "load 0.05 t at radius 30 m" in r.text("overload", "cleared", "en")


@pytest.mark.parametrize(
    ("radius", "load", "grade", "load_ratio", "moment_ratio"),
    [
        # At a chart point the two ratios agree.
        (30.0, 2.9, 3, 2.9 / 2.5, 2.9 / 2.5),
        # Between chart points the moment, interpolated on the chart's moments, reads higher.
        (20.0, 5.0, 3, 5.0 / (6.0 - 3.5 * 7 / 17), 5.0 * 20 / (78.0 + (75.0 - 78.0) * 7 / 17)),
        # Beyond the far end the rated load stays flat and the moment grows: orange on the moment alone.
        (55.0, 1.25, 2, 1.25 / 1.3, 1.25 * 55 / 65.0),
    ],
    ids=["chart_point", "between_points", "beyond_the_chart"],
)
async def test_one_overload_gives_one_alarm_naming_both_ratios(
    tmp_path: Path, radius: float, load: float, grade: int, load_ratio: float, moment_ratio: float
) -> None:
    r = await run(tmp_path, CRANE, lift(T0, radius, [0.05, load, load, load, 0.05]))
    events = r.of("overload")
    assert [(e.state, e.grade) for e in events] == [("raised", grade), ("cleared", 0)]
    assert {e.channel for e in r.events} == {"crane1.load_ratio"}
    detail = events[0].detail
    assert detail is not None
    assert detail["load_ratio"] == pytest.approx(load_ratio) and detail["moment_ratio"] == pytest.approx(
        moment_ratio
    )
    assert events[0].value == pytest.approx(max(load_ratio, moment_ratio))  # the larger is judged
    assert f"load ratio {round(load_ratio * 100)} %, moment ratio {round(moment_ratio * 100)} %" in (
        r.text("overload", "raised", "en")
    )
    assert len([n for n in r.notices if n.kind == "raised"]) == 1


def wind_ramp() -> list[Reading]:
    """Calm, then a 1 Hz wind rising 0.01 m/s per second to 22 m/s, held, then calm again."""
    up = np.minimum(4.0 + 0.01 * np.arange(2400), 22.0)
    down = np.full(1200, 3.0)
    return series("anemo1.wind_speed", T0, 1.0, np.concatenate([up, down]))


async def test_wind_says_which_mean_its_level_and_the_limit(tmp_path: Path) -> None:
    rules = "  - {id: wind, type: wind, channels: [anemo1.wind_speed], mean: 2min, working_limit: 20}\n"
    r = await run(tmp_path, rules, wind_ramp())
    grades = [e.grade for e in r.of("wind")]
    assert grades[:3] == [1, 2, 3] and grades[-1] == 0
    en = r.text("wind", "raised", "en")
    assert "2-min mean wind 8.0" in en and " m/s, level 5 ≥ the watch level 8 m/s" in en
    zh = r.text("wind", "raised", "zh")
    assert "2分钟平均风速 8.0" in zh and " m/s，5 级 ≥ 关注风级 8 m/s" in zh
    stop = r.text("wind", "escalated", "en", grade=2)
    assert ", level 6 ≥ the stop-lifting level 10.8 m/s" in stop
    red = r.text("wind", "escalated", "en", grade=3)
    assert "gust 20" in red and "≥ the working limit 20 m/s" in red
    assert "≥ 工作极限风速 20 m/s" in r.text("wind", "escalated", "zh", grade=3)


async def test_combined_names_every_condition(tmp_path: Path) -> None:
    rules = """
  - {id: wind, type: wind, channels: [anemo1.wind_speed], working_limit: 20}
  - id: lifting_in_wind
    type: combined
    all_of:
      - {channel: crane1.load, above: 0.5}
      - {channel: anemo1.wind_3s, above: 10.8}
"""
    readings = series("anemo1.wind_speed", T0, 1.0, [12.0] * 30) + series(
        "crane1.load", T0 + 10.5, 1.0, [2.0] * 5
    )
    r = await run(tmp_path, rules, readings)
    (raised, *_) = r.of("lifting_in_wind")
    assert raised.state == "raised"
    en = r.text("lifting_in_wind", "raised", "en")
    assert "all at once: crane1.load 2 t > 0.5 t, anemo1.wind_3s 12 m/s > 10.8 m/s" in en
    zh = r.text("lifting_in_wind", "raised", "zh")
    assert "同时满足：crane1.load 2 t > 0.5 t，anemo1.wind_3s 12 m/s > 10.8 m/s" in zh


async def test_time_to_limit_says_minutes_to_the_limit_and_the_limit(tmp_path: Path) -> None:
    rules = """
  - id: ttl
    type: time_to_limit
    channels: [pit.P1.disp_h]
    window_s: 600
    limit: 30
    horizons_s: {yellow: 3600, orange: 1800, red: 600}
"""
    # 0.25 mm a minute from 0 mm: 30 mm is 2 h away at the start.
    r = await run(tmp_path, rules, series("pit.P1.disp_h", T0, MIN, 0.25 * np.arange(100)))
    raised = r.of("ttl")[0]
    assert raised.grade == 1 and raised.limit == 30.0
    en = r.text("ttl", "raised", "en")
    assert "at this trend the limit 30 mm is reached in about 60 min (now 15 mm)" in en
    assert "≥" not in en and "at or above" not in raised.message and "limit expected" not in en
    zh = r.text("ttl", "raised", "zh")
    assert "按当前趋势约 60 分钟后达到控制值 30 mm（当前 15 mm）" in zh
    assert "reached in about" in raised.message


async def test_rate_says_the_rate_in_its_unit(tmp_path: Path) -> None:
    rules = """
  - id: rate
    type: rate
    channels: [pit.P1.disp_h]
    window_s: 21600
    per: day
    upper: {yellow: 2.1, orange: 2.55, red: 3.0}
"""
    # Hourly readings, 2.4 mm/d for two days.
    r = await run(tmp_path, rules, series("pit.P1.disp_h", T0, HOUR, 0.1 * np.arange(48)))
    en = r.text("rate", "raised", "en")
    assert "rate 2.4 mm/d ≥ the yellow limit 2.1 mm/d" in en
    assert "变化速率 2.4 mm/d ≥ 黄色预警值 2.1 mm/d" in r.text("rate", "raised", "zh")


async def test_acceleration_says_the_rate_keeps_growing(tmp_path: Path) -> None:
    rules = """
  - id: accel
    type: acceleration
    channels: [pit.P1.disp_h]
    window_s: 21600
    per: day
    windows: 3
    min_rate: 1.0
"""
    hours = np.arange(0, 96.0)
    r = await run(tmp_path, rules, series("pit.P1.disp_h", T0, HOUR, 0.02 * hours**2 / 24))
    en = r.text("accel", "raised", "en")
    assert "growing over 3 successive windows (at least 1 mm/d): not converging" in en
    assert "连续 3 个时间窗内持续增大（≥ 1 mm/d），变形未收敛" in r.text("accel", "raised", "zh")


async def test_failure_forecast_says_when_and_how_soon(tmp_path: Path) -> None:
    rules = """
  - id: failure
    type: failure_forecast
    channels: [pit.P1.disp_h]
    window_s: 86400
    velocity_window_s: 3600
    horizons_s: {yellow: 172800, orange: 86400, red: 21600}
"""
    tf = 4 * DAY
    t = np.arange(0.0, 0.95 * tf, 120.0)
    r = await run(tmp_path, rules, series("pit.P1.disp_h", T0, 120.0, -5.0 * np.log((tf - t) / tf)))
    raised = r.of("failure")[0]
    assert raised.detail is not None and raised.detail["failure_time"].startswith("2027-01-")
    en = r.text("failure", "raised", "en")
    assert "inverse-velocity failure forecast at 2027-01-" in en and "in about" in en
    assert "反速度法预测失稳：2027-01-" in r.text("failure", "raised", "zh")


QUALITY = """
  - id: q
    type: quality
    channels: [pit.P1.disp_h]
    silent_s: 7200
    spike_k: 6
    spike_window: 15
    spike_min_jump: 2.0
"""


async def test_quality_says_what_and_for_how_long(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    values = 10.0 + rng.normal(0, 0.05, 40)
    values[20] = 60.0  # one wild reading
    readings = series("pit.P1.disp_h", T0, HOUR, values)
    # Then five hours without a reading, and readings again.
    readings += series("pit.P1.disp_h", T0 + 45 * HOUR, HOUR, [10.0, 10.02, 9.98])
    r = await run(tmp_path, QUALITY, readings)
    spike_raised = r.text("q.spike", "raised", "en")
    assert "isolated jump held back as a spike" in spike_raised
    cleared = r.text("q.spike", "cleared", "en")
    assert "no spike in the last 15 readings" in cleared
    assert "15 t" not in cleared and "(limit 15" not in cleared  # the window is no reading
    assert "最近 15 个读数无跳变" in r.text("q.spike", "cleared", "zh")
    assert "no usable reading for 2 h" in r.text("q.silent", "raised", "en")
    assert "readings again after 6 h without one" in r.text("q.silent", "cleared", "en")
    assert "数据恢复（中断 6 小时）" in r.text("q.silent", "cleared", "zh")


async def test_quality_out_of_range_names_the_range(tmp_path: Path) -> None:
    rules = "  - {id: q, type: quality, channels: [pit.P1.disp_h], silent_s: null, spike_k: null}\n"
    r = await run(tmp_path, rules, series("pit.P1.disp_h", T0, HOUR, [10.0, 250.0, 11.0]))
    assert "reading 250 mm outside the range [-100, 200] mm" in r.text("q.out_of_range", "raised", "en")
    assert "读数 250 mm 超出量程 [-100, 200] mm" in r.text("q.out_of_range", "raised", "zh")


@pytest.mark.parametrize("seed", [1, 2])
def test_details_and_messages_do_not_depend_on_how_the_stream_is_cut(seed: int) -> None:
    """The synthetic site of every rule kind, whole and cut between distinct times: the same words."""
    from tests.gateway.rules.test_site_engine import SITE, site_readings
    from tests.gateway.test_computed_channels import split_between_times

    def words(batches: list[ReadingBatch]) -> list[tuple[object, ...]]:
        engine, book = Site(parse_config(SITE)).analytics()
        out: list[AlarmEvent] = []
        for b in batches:
            out += book.apply(engine.process(b.ts, b.channel, b.value, b.quality).transitions)
        return [(e.ts, e.channel, e.rule, e.state, e.message, e.detail) for e in out]

    whole = words([site_readings()])
    assert {str(d["kind"]) for *_, d in whole if isinstance(d, dict)} >= {"crane", "wind", "combined"}
    cut = words(split_between_times(site_readings(), np.random.default_rng(seed)))
    assert [w[:4] for w in cut] == [w[:4] for w in whole]
    for a, b in zip(cut, whole, strict=True):
        assert a[4] == b[4]
        assert a[5] == pytest.approx(b[5], rel=1e-9)
