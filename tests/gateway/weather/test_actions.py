"""Site actions from the table, and the site alarm a warning raises, follows and clears."""

from __future__ import annotations

from datetime import datetime

import pytest

from drivers.cap.area import SiteLocation
from drivers.cap.codes import EVENTS, WarningCodes
from drivers.cap.lifecycle import WarningBook
from drivers.cap.parse import parse_cap
from gateway.alarms.wording import describe
from gateway.config import ConfigError, parse_config
from gateway.config.weather_actions import default_actions
from gateway.vocab import AlarmEvent, AlarmState
from gateway.weather.actions import SiteMeaning, actions_for
from tests.drivers.cap.documents import alert, info, ref

T0 = datetime.fromisoformat("2026-12-02T08:05:00+08:00").timestamp()


def ids(event: str, colour: str) -> list[str]:
    return [a["id"] for a in actions_for(default_actions(), event, colour)]


def test_gale_blue_stops_lifting_and_secures_cranes_formwork() -> None:
    assert ids("gale", "blue") == ["stop_lifting", "secure_cranes", "stop_erection", "secure_formwork"]
    (lifting,) = [a for a in actions_for(default_actions(), "gale", "blue") if a["id"] == "stop_lifting"]
    assert lifting["alarm"] and "塔吊司机 crane operators" in lifting["tell"]
    assert "JGJ 276-2012" in lifting["source"]


def test_rows_apply_from_their_colour_up() -> None:
    assert ids("rainstorm", "yellow") == ["raise_pit_monitoring", "check_drainage"]
    assert ids("rainstorm", "orange") == ["raise_pit_monitoring", "check_drainage", "stop_pit_work"]
    assert "stop_work_at_height" in ids("gale", "red") and "stop_work_at_height" not in ids("gale", "yellow")
    assert ids("heat", "blue") == [] and ids("heat", "red") == ["heat_hours", "stop_outdoor_work"]


def test_every_event_has_defaults_and_every_row_cites_its_source() -> None:
    assert {row.event for row in default_actions()} == set(EVENTS)
    assert all(row.source for row in default_actions())


class Meaning:
    def __init__(self) -> None:
        self.book = WarningBook(SiteLocation(39.9, 116.4), WarningCodes.default())
        self.meaning = SiteMeaning("s1", default_actions())

    def apply(self, document: str, now: float = T0) -> list[AlarmEvent]:
        events = []
        for applied in self.book.apply(parse_cap(document.encode()), now):
            events += self.meaning.prepare(applied, now)
        return events


def test_a_gale_raises_escalates_and_clears_one_site_alarm() -> None:
    m = Meaning()
    (raised,) = m.apply(alert())
    assert (raised.channel, raised.rule, raised.state, raised.grade) == (
        "weather.gale", "weather_warning", AlarmState.RAISED, 1,
    )  # fmt: skip
    assert raised.detail is not None and "停止吊装作业" in raised.detail["zh"]
    assert describe(raised.to_dict(), "zh") == raised.detail["zh"]
    orange = alert("W2", "2026-12-02T09:00:00+08:00", "Update", references=ref(),
                   infos=info(code="11B0603", headline="大风橙色预警"))  # fmt: skip
    (escalated,) = m.apply(orange)
    assert (escalated.state, escalated.grade, escalated.alarm_id) == (
        AlarmState.ESCALATED,
        2,
        raised.alarm_id,
    )
    assert "停止高处及露天作业" in (escalated.detail or {})["zh"]
    cancel = alert("W3", "2026-12-02T10:00:00+08:00", "Cancel", infos="",
                   references=ref("W2", "2026-12-02T09:00:00+08:00"))  # fmt: skip
    (cleared,) = m.apply(cancel)
    assert (cleared.state, cleared.grade, cleared.alarm_id) == (AlarmState.CLEARED, 0, raised.alarm_id)


def test_a_blue_rainstorm_raises_no_alarm_until_orange() -> None:
    m = Meaning()
    blue = info(code="11B0301", event="暴雨", headline="暴雨蓝色预警")
    assert m.apply(alert(infos=blue)) == []
    (record,) = m.book.records.values()
    assert [a["id"] for a in record.actions] == ["raise_pit_monitoring", "check_drainage"]
    record.actions[1]["done"] = True  # ticked before the update: kept
    orange = info(code="11B0303", event="暴雨", headline="暴雨橙色预警")
    (raised,) = m.apply(alert("R2", "2026-12-02T09:00:00+08:00", "Update", references=ref(), infos=orange))
    assert (raised.state, raised.grade, raised.channel) == (AlarmState.RAISED, 2, "weather.rainstorm")
    assert [a["done"] for a in record.actions] == [False, True, False]


def test_not_real_or_outside_raises_nothing() -> None:
    m = Meaning()
    assert m.apply(alert(status="Exercise")) == []
    (record,) = m.book.records.values()
    assert record.actions == []


SITE_TABLE = """
site: {id: s1}
weather:
  codes: {"WX-GALE": gale}
  actions:
    - event: typhoon
      colour: blue
      source: city order 2024-17
      actions:
        - {id: stop_cranes, zh: 停止塔吊作业, tell: [crane operators], alarm: true}
"""


def test_a_site_table_replaces_the_defaults() -> None:
    config = parse_config(SITE_TABLE)
    assert config.weather.actions is not None
    m = SiteMeaning("s1", config.weather.actions)
    assert [a["id"] for a in actions_for(m.table, "typhoon", "blue")] == ["stop_cranes"]
    assert actions_for(m.table, "gale", "red") == []


@pytest.mark.parametrize(
    ("snippet", "where"),
    [
        ("weather: {actions: [{event: hail, actions: [{id: a, zh: x}]}]}", "weather.actions[0].event"),
        ("weather: {actions: [{event: gale, colour: pink, actions: [{id: a, zh: x}]}]}", "colour"),
        ("weather: {actions: [{event: gale, actions: []}]}", "weather.actions[0].actions"),
        ("weather: {codes: {X1: hail}}", "weather.codes"),
    ],
)
def test_bad_tables_refused_with_their_path(snippet: str, where: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f"site: {{id: s1}}\n{snippet}")
    assert where in str(err.value)


def test_meaning_checks_of_the_weather_section() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(
            """
site: {id: s1}
devices:
  - {id: anemo1, type: mqtt, channels: {wind_speed: {unit: m/s}}}
weather:
  local:
    gale: {channels: [anemo1.wind_speed, anemo2.wind_speed]}
    rain: {channel: rain1.mm}
  actions:
    - {event: gale, actions: [{id: a, zh: x}, {id: a, zh: y}]}
"""
        )
    assert str(err.value).splitlines() == [
        "<config>:7: weather.local.gale.channels[1]: no channel 'anemo2.wind_speed'",
        "<config>:8: weather.local.rain.channel: no channel 'rain1.mm'",
        "<config>:10: weather.actions[0].actions[1].id: action 'a' twice in one row",
    ]
