"""What a restart picks up again before the first live reading is judged.

1. Baselines taken from the data, from the alarm store (``gateway.state.baseline_keeping``); one still
   missing is taken from the first good reading in the local store.
2. Trend and wind windows: the core is fed the last window of every sensor channel's stored
   readings (bounded), and whatever it finds in that past is not raised again.
3. Alarms still active on the desk: each (rule, channel) continues its record (``AlarmBook.resume``)
   and the core carries the record's grade until the data speaks (``analytics.carry``), so the first
   condition after the restart is no second raise and data that is normal again clears it. Where an
   older version left two active records for one (rule, channel), the newest is kept and the others
   are ended, audited.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from analytics import Engine
from drivers import SqliteStore
from drivers.store_recent import first_good, recent_readings
from gateway.alarms.book import AlarmBook
from gateway.alarms.desk import AlarmDesk
from gateway.alarms.record import AlarmRecord
from gateway.config import (
    AccelerationRuleConfig,
    CombinedRuleConfig,
    FailureForecastRuleConfig,
    QualityRuleConfig,
    RateRuleConfig,
    ThresholdRuleConfig,
    TimeToLimitRuleConfig,
    WindRuleConfig,
)
from gateway.site import Site
from gateway.state.baseline_keeping import Baselines
from gateway.vocab import ReadingBatch, iso_utc

log = logging.getLogger(__name__)

WIND_WINDOW_S = 600.0 + 60.0  # the 10-minute mean and the gust's 10 minutes, with a margin
MAX_SPAN_S = 3 * 86400.0  # a longer window (sustained rates over days) is warm-started in part
MIN_READINGS = 64  # count-based windows (spike medians, debounce) need a few readings whatever the time
MAX_ROWS_PER_CHANNEL = 50_000
MAX_ROWS = 2_000_000


@dataclass(slots=True)
class Resumed:
    readings: int = 0
    channels: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    alarms_continued: int = 0
    alarms_settling: int = 0
    duplicates_ended: int = 0
    alarms_unknown: int = 0
    baselines: dict[str, int] = field(default_factory=dict)
    warm_start_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "readings": self.readings,
            "channels": self.channels,
            "from": None if self.first_ts is None else iso_utc(self.first_ts),
            "to": None if self.last_ts is None else iso_utc(self.last_ts),
            "alarms_continued": self.alarms_continued,
            "alarms_settling": self.alarms_settling,
            "duplicates_ended": self.duplicates_ended,
            "alarms_unknown": self.alarms_unknown,
            "baselines": self.baselines,
            "warm_start_error": self.warm_start_error,
        }


def rule_window_s(rule: Any) -> float:
    """How much past a rule's judgement rests on (data time)."""
    if isinstance(rule, RateRuleConfig | TimeToLimitRuleConfig):
        return float(rule.window_s)
    if isinstance(rule, AccelerationRuleConfig):
        return float(rule.window_s) * rule.windows
    if isinstance(rule, FailureForecastRuleConfig):
        return float(rule.window_s + rule.velocity_window_s)
    if isinstance(rule, WindRuleConfig):
        return WIND_WINDOW_S
    if isinstance(rule, CombinedRuleConfig):
        return float(rule.max_age_s)
    if isinstance(rule, QualityRuleConfig):
        return float(rule.stuck_window_s or 0.0)
    if isinstance(rule, ThresholdRuleConfig) and rule.debounce is not None:
        return float(rule.debounce.hold_s)
    return 0.0


def channel_spans(site: Site, windows: dict[str, float]) -> dict[str, float]:
    """Per sensor channel: the longest past any rule judging it (or a channel computed from it)
    rests on, with a margin, at most MAX_SPAN_S."""
    sensors = [e.id for e in site.channels if e.derived_by is None]
    made_by = {e.id: e.derived_by for e in site.channels if e.derived_by is not None}
    number_of = {rule.id: n for n, rule in enumerate(site.config.rules)}
    ctx = site.rulebook.context

    def sensors_of(channel: str) -> list[str]:
        rule = made_by.get(channel)
        return [channel] if rule is None else ctx.sources.get(number_of[rule], [])

    span = dict.fromkeys(sensors, 0.0)
    for number, rule in enumerate(site.config.rules):
        named = ctx.matched(rule.channels) + ctx.sources.get(number, [])
        if isinstance(rule, CombinedRuleConfig):
            named += [c.channel for c in rule.all_of]
        for channel in named:
            for sensor in sensors_of(channel):
                if sensor in span:
                    span[sensor] = max(span[sensor], min(windows[rule.id] * 1.1, MAX_SPAN_S))
    return span


async def resume(
    site: Site,
    engine: Engine,
    book: AlarmBook,
    desk: AlarmDesk,
    baselines: Baselines,
    store: SqliteStore | None,
) -> Resumed:
    out = Resumed()
    await baselines.restore()
    windows = {rule.id: rule_window_s(rule) for rule in site.config.rules}
    if store is not None:
        waiting = baselines.waiting()
        if waiting:
            found = await store.call(first_good, [(channel, since) for _, channel, since in waiting])
            for (rule, channel, _), first in zip(waiting, found, strict=True):
                if first is not None:
                    baselines.take_first_stored(rule, channel, *first)
        sensors = [e.id for e in site.channels[: engine.first_derived]]
        await _warm_start(engine, store, sensors, channel_spans(site, windows), out)
        baselines.discard_replayed()
    out.baselines = baselines.health()
    await _continue_alarms(engine, book, desk, windows, out)
    log.info("resumed after a restart: %s", out.as_dict())
    return out


async def _warm_start(
    engine: Engine, store: SqliteStore, channels: list[str], spans: dict[str, float], out: Resumed
) -> None:
    wanted = [(c, spans.get(c, 0.0)) for c in channels]
    try:
        found = await store.call(recent_readings, wanted, MIN_READINGS, MAX_ROWS_PER_CHANNEL)
    except (sqlite3.Error, ValueError, TypeError) as exc:
        # A damaged store must not keep the gateway from starting: the windows then start empty.
        out.warm_start_error = f"{type(exc).__name__}: {exc}"
        log.error("warm start from the local store failed (%s); trend and wind windows start empty", exc)
        return
    column = {name: i for i, name in enumerate(channels)}
    ts: list[npt.NDArray[np.float64]] = []
    ch: list[npt.NDArray[np.int32]] = []
    value: list[npt.NDArray[np.float64]] = []
    quality: list[npt.NDArray[np.uint8]] = []
    total = 0
    for part in found:
        if total + len(part.ts) > MAX_ROWS:
            log.warning("warm start: over %d stored readings in the windows; the rest start empty", MAX_ROWS)
            break
        total += len(part.ts)
        ts.append(part.ts)
        ch.append(np.full(len(part.ts), column[part.channel], dtype=np.int32))
        value.append(part.value)
        quality.append(part.quality)
    if not total:
        return
    batch = ReadingBatch(
        np.concatenate(ts), np.concatenate(ch), np.concatenate(value), np.concatenate(quality)
    )
    # The past is judged only to fill the windows and grades: its transitions are not raised again.
    engine.process(batch.ts, batch.channel, batch.value, batch.quality)
    out.readings, out.channels = total, len(ts)
    out.first_ts, out.last_ts = float(batch.ts.min()), float(batch.ts.max())


async def _continue_alarms(
    engine: Engine, book: AlarmBook, desk: AlarmDesk, windows: dict[str, float], out: Resumed
) -> None:
    names = book.binding_names()
    binding_of = {(channel, rule): b for b, (channel, rule, _unit) in enumerate(names)}
    active: dict[tuple[str, str], list[AlarmRecord]] = defaultdict(list)
    for record in desk.records.values():
        if record.active:
            active[(record.channel, record.rule)].append(record)
    n = len(names)
    target = np.zeros(n, dtype=np.int8)
    for key, records in active.items():
        records.sort(key=lambda r: (r.updated, r.raised_ts), reverse=True)
        keep, *older = records
        for record in older:
            note = f"a second active record of {key[1]} on {key[0]}; {keep.id} continues"
            await desk.retire(record.id, note)
            out.duplicates_ended += 1
        binding = binding_of.get(key)
        if binding is None:
            out.alarms_unknown += 1
            log.warning(
                "active alarm %s of rule %r on %r: no such rule on that channel in the site file; it stays "
                "as it is until people close it",
                keep.id,
                key[1],
                key[0],
            )
            continue
        book.resume(binding, keep.id)
        target[binding] = max(1, min(3, keep.grade))
        out.alarms_continued += 1
    judged = engine.binding_grade
    differs = np.flatnonzero(judged != target)
    if len(differs):
        state = engine.state
        channel = engine.binding_channel[differs]
        # A window the warm start filled is trusted at once; else once a window of live data is in.
        warm = state.readings[channel] > 0
        window = np.array([windows.get(names[b][1], 0.0) for b in differs.tolist()])
        settle_from = np.where(warm, -np.inf, np.nan)
        engine.carried.carry(differs, target[differs], settle_from, window, state)
    out.alarms_settling = len(differs)
