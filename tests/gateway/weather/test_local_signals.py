"""The site's own signals through the warning desk: issued, updated and ended like official ones,
marked local, raising the site alarm (rule weather_local), and taken up again after a restart."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drivers.cap.codes import WarningCodes
from drivers.cap.lifecycle import WarningBook
from drivers.warning_store import WarningStore
from gateway.config import parse_config
from gateway.config.weather_actions import default_actions
from gateway.site import Site
from gateway.vocab import AlarmEvent, Quality, ReadingBatch, SinkBatch
from gateway.weather.actions import SiteMeaning
from gateway.weather.local_signals import LocalSignals
from gateway.weather.warning_desk import WarningDesk

SITE = """
site: {id: s1}
devices:
  - {id: anemo1, type: mqtt, channels: {wind_speed: {unit: m/s}}}
  - {id: anemo2, type: mqtt, channels: {wind_speed: {unit: m/s}}}
  - {id: rain1, type: mqtt, channels: {tips: {unit: count}}}
weather:
  local:
    gale: {channels: [anemo1.wind_speed, anemo2.wind_speed], mean: 2min, confirm_s: 300, end_after_s: 1800}
    rain: {channel: rain1.tips, mm_per_unit: 0.2, end_after_s: 3600}
"""
T0 = 1_790_000_000.0


class Parts:
    def __init__(self, path: Path) -> None:
        config = parse_config(SITE)
        self.site = Site(config)
        self.events: list[AlarmEvent] = []
        meaning = SiteMeaning("s1", default_actions())
        book = WarningBook(None, WarningCodes.default())
        self.desk = WarningDesk(
            "s1", book, WarningStore(path), clock=lambda: T0, prepare=meaning.prepare, emit=self.events.extend
        )
        self.local = LocalSignals("s1", config.weather.local, self.site.index.column, self.desk)

    async def feed(self, channel: str, ts: np.ndarray, values: np.ndarray) -> None:
        column = self.site.index.column(channel)
        n = len(ts)
        batch = ReadingBatch(ts, np.full(n, column, np.int32), values, np.zeros(n, np.uint8))
        await self.local.write(SinkBatch(batch))


def seconds(start: float, end: float) -> np.ndarray:
    return np.arange(T0 + start, T0 + end, 1.0)


async def test_gale_issued_after_confirming_raised_then_ended(tmp_path: Path) -> None:
    parts = Parts(tmp_path / "w.db")
    async with parts.desk, parts.local:
        # 12 m/s is level 6 (mean) on anemo2 only; anemo1 calm: the worst anemometer counts.
        await parts.feed("anemo1.wind_speed", seconds(0, 600), np.full(600, 3.0))
        await parts.feed("anemo2.wind_speed", seconds(0, 299), np.full(299, 12.0))
        assert parts.desk.listing() == []
        await parts.feed("anemo2.wind_speed", seconds(299, 900), np.full(601, 12.0))
        (record,) = parts.desk.listing()
        assert (record.local, record.event, record.colour, record.in_force) == (True, "gale", "blue", True)
        assert record.received_at == T0 + 300 and record.detail["channel"] == "anemo2.wind_speed"
        assert "平均风力 6 级" in record.headline and record.actions[0]["id"] == "stop_lifting"
        (raised,) = parts.events
        assert (raised.rule, raised.channel, raised.grade, raised.state) == (
            "weather_local", "weather.gale", 1, "raised",
        )  # fmt: skip
        # A gust front of 25 m/s: level 10 gusts (yellow) held 5 min, then the 2-min mean reaches
        # level 10 too (orange), held 5 min.
        await parts.feed("anemo2.wind_speed", seconds(900, 1250), np.full(350, 25.0))
        assert record.colour == "yellow" and record.state == "updated"
        await parts.feed("anemo2.wind_speed", seconds(1250, 1500), np.full(250, 25.0))
        assert record.colour == "orange"
        # Calm: below every colour for 30 min ends it.
        await parts.feed("anemo2.wind_speed", seconds(1500, 3600), np.full(2100, 2.0))
        assert not record.in_force and record.state == "ended"
        assert [e.state for e in parts.events] == ["raised", "escalated", "cleared"]
        trail = await parts.desk.audit_trail(record.id)
        assert [e["detail"]["change"] for e in trail] == ["issued", "updated", "updated", "ended"]


async def test_bad_readings_are_not_judged(tmp_path: Path) -> None:
    parts = Parts(tmp_path / "w.db")
    async with parts.desk, parts.local:
        column = parts.site.index.column("anemo1.wind_speed")
        ts = seconds(0, 900)
        values = np.full(900, 30.0)
        batch = ReadingBatch(
            ts, np.full(900, column, np.int32), values, np.full(900, Quality.BAD_RANGE, np.uint8)
        )
        await parts.local.write(SinkBatch(batch))
        await parts.feed("anemo1.wind_speed", ts, np.full(900, np.nan))
        assert parts.desk.listing() == []


async def test_rainstorm_from_a_tipping_bucket_and_a_restart(tmp_path: Path) -> None:
    parts = Parts(tmp_path / "w.db")
    async with parts.desk, parts.local:
        # 0.2 mm per tip, one tip every 20 s: 36 mm/h; 50 mm after 83 min -> orange (50 mm in 3 h).
        await parts.feed("rain1.tips", np.arange(T0, T0 + 2 * 3600, 20.0), np.ones(360))
        (record,) = parts.desk.listing()
        assert (record.event, record.colour, record.local) == ("rainstorm", "orange", True)
        assert [a["id"] for a in record.actions][-1] == "stop_pit_work"
        assert [(e.grade, e.state) for e in parts.events] == [(2, "raised")]
    again = Parts(tmp_path / "w.db")
    async with again.desk, again.local:
        # Still raining after the restart: the signal goes on, not issued twice.
        await again.feed("rain1.tips", np.arange(T0 + 7200, T0 + 7300, 20.0), np.ones(5))
        assert len(again.desk.listing()) == 1 and again.events == []
        # Dry for long: the 3-h sum falls below 50 mm, an hour later the signal ends.
        await again.feed("rain1.tips", np.arange(T0 + 7300, T0 + 20 * 3600, 600.0), np.zeros(108))
        (record,) = again.desk.listing()
        assert record.state == "ended" and [e.state for e in again.events] == ["cleared"]
