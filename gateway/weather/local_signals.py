"""The site's own gale and rainstorm signals, issued, updated and ended like official warnings.

A sink: it reads the anemometer and rain-gauge readings of every batch (``analytics.cma_signals``
judges them on data time) and turns a change of the issued colour into a warning record marked
``local`` on the warning desk, which gives it actions, a site alarm (rule ``weather_local``) and a
``…/warnings`` message as it does for official ones. Several anemometers: the worst one counts,
among those heard in the last 10 minutes. After a restart a signal in force is taken up again at
its colour (not issued twice); it ends once the data have stayed below it for ``end_after_s``.
A signal whose sensor falls silent stays in force (the sensor's silence is its own alarm).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import numpy as np

from analytics.cma_signals import GaleWindow, RainWindow, SignalHold
from analytics.wind import WINDOW_2MIN, WINDOW_10MIN
from drivers.cap.codes import COLOURS
from drivers.cap.lifecycle import Applied
from drivers.cap.warning import Change, WarningRecord, WarningState
from gateway.config.weather import LocalSignalsConfig
from gateway.vocab import Quality, SinkBatch
from gateway.weather.warning_desk import WarningDesk

log = logging.getLogger(__name__)

ZH_COLOURS = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}


class _Signal:
    """One local signal (gale or rainstorm): its hold and the record it keeps while issued."""

    def __init__(self, event: str, hold: SignalHold) -> None:
        self.event = event
        self.hold = hold
        self.record: WarningRecord | None = None


class LocalSignals:
    name = "weather-local"

    def __init__(
        self,
        site: str,
        config: LocalSignalsConfig,
        column_of: Callable[[str], int],
        desk: WarningDesk,
    ) -> None:
        self.site = site
        self.desk = desk
        self._gale_windows: dict[int, GaleWindow] = {}
        self._names: dict[int, str] = {}
        self._gale_seen: dict[int, tuple[float, int]] = {}  # column -> (last ts, rank met)
        self._rain: tuple[int, RainWindow] | None = None
        self._signals: dict[str, _Signal] = {}
        if config.gale is not None:
            mean_s = WINDOW_10MIN if config.gale.mean == "10min" else WINDOW_2MIN
            self._gale_windows = {column_of(c): GaleWindow(mean_s) for c in config.gale.channels}
            self._names = {column_of(c): c for c in config.gale.channels}
            self._signals["gale"] = _Signal(
                "gale", SignalHold(config.gale.confirm_s, config.gale.end_after_s)
            )
        if config.rain is not None:
            rain = RainWindow(config.rain.mode == "accumulated", config.rain.mm_per_unit)
            self._rain = (column_of(config.rain.channel), rain)
            # Rain already fallen is observed: no confirmation time.
            self._signals["rainstorm"] = _Signal("rainstorm", SignalHold(0.0, config.rain.end_after_s))
        self._watched = np.array([*self._gale_windows, *([self._rain[0]] if self._rain else [])], np.int32)

    async def __aenter__(self) -> LocalSignals:
        # Enter after the desk: a local signal in force before the restart continues at its colour.
        for record in self.desk.listing():
            signal = self._signals.get(record.event or "")
            if record.local and record.in_force and signal is not None and signal.record is None:
                signal.record = record
                signal.hold.issued = COLOURS.index(record.colour or "blue") + 1
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def write(self, batch: SinkBatch) -> None:
        readings = batch.readings
        if not len(readings) or not len(self._watched):
            return
        keep = np.isin(readings.channel, self._watched) & Quality.is_good(readings.quality)
        keep &= np.isfinite(readings.value)
        changes: list[Applied] = []
        for ts, column, value in zip(
            readings.ts[keep].tolist(),
            readings.channel[keep].tolist(),
            readings.value[keep].tolist(),
            strict=True,
        ):
            changes += self._reading(ts, column, value)
        if changes:
            await self.desk.apply_local(changes)

    def _reading(self, ts: float, column: int, value: float) -> list[Applied]:
        gale = self._gale_windows.get(column)
        if gale is not None:
            g = gale.add(ts, value)
            self._gale_seen[column] = (ts, g.rank)
            met = max(r for t, r in self._gale_seen.values() if ts - t < WINDOW_10MIN)
            numbers: dict[str, float | int | str] = {
                "channel": self._names[column],
                "mean_ms": round(g.mean, 2),
                "gust_ms": round(g.gust, 2),
                "mean_level": g.mean_level,
                "gust_level": g.gust_level,
            }
            return self._judge(self._signals["gale"], ts, met, numbers)
        if self._rain is not None and column == self._rain[0]:
            r = self._rain[1].add(ts, value)
            numbers = {"mm_3h": round(r.mm_3h, 1), "mm_6h": round(r.mm_6h, 1), "mm_12h": round(r.mm_12h, 1)}
            return self._judge(self._signals["rainstorm"], ts, r.rank, numbers)
        return []

    def _judge(
        self, signal: _Signal, ts: float, met: int, numbers: dict[str, float | int | str]
    ) -> list[Applied]:
        before = signal.hold.issued
        issued = signal.hold.update(ts, met)
        if issued == before:
            return []
        colour = COLOURS[issued - 1] if issued else None
        record = signal.record
        if record is None:
            record = self._new(signal.event, ts)
            signal.record = record
            change = Change.ISSUED
        elif issued == 0:
            record.state, record.ended_at, record.end_reason = WarningState.ENDED, ts, "below the signal"
            signal.record = None
            change = Change.ENDED
        else:
            record.state, record.msg_type = WarningState.UPDATED, "Update"
            change = Change.UPDATED
        record.updated_at = ts
        record.detail = {"met_since_s": signal.hold.confirm_s, **numbers}
        if colour is not None:
            record.colour = colour
            record.headline, record.description = _words(signal.event, colour, numbers)
        return [Applied(record, change, "local signal")]

    def _new(self, event: str, ts: float) -> WarningRecord:
        return WarningRecord(
            id=uuid.uuid4().hex,
            sender=f"local:{self.site}",
            identifier=f"local-{event}-{uuid.uuid4().hex[:8]}",
            local=True,
            status="Actual",
            msg_type="Alert",
            event=event,
            colour=None,
            state=WarningState.RECEIVED,
            received_at=ts,
            updated_at=ts,
            event_name="大风" if event == "gale" else "暴雨",
            language="zh-CN",
            area={"applies": True, "how": "local", "area": self.site},
        )


def _words(event: str, colour: str, n: dict[str, float | int | str]) -> tuple[str, str]:
    """Headline (zh) and description (en) of a local signal, with the numbers it rests on."""
    zh_colour = ZH_COLOURS[colour]
    if event == "gale":
        zh = f"本站大风{zh_colour}信号（实况）：平均风力 {n['mean_level']} 级，阵风 {n['gust_level']} 级"
        en = (
            f"site gale signal {colour} (observed): mean wind level {n['mean_level']} ({n['mean_ms']} m/s), "
            f"gust level {n['gust_level']} ({n['gust_ms']} m/s)"
        )
        return zh, en
    amounts = (n["mm_3h"], n["mm_6h"], n["mm_12h"])
    zh = "本站暴雨{}信号（实况）：3 小时 {} mm，6 小时 {} mm，12 小时 {} mm".format(zh_colour, *amounts)
    en = "site rainstorm signal {} (observed): {} mm in 3 h, {} mm in 6 h, {} mm in 12 h".format(
        colour, *amounts
    )
    return zh, en
