"""Data-quality checks that do not cry wolf (issue 11, item 4), on whole site files.

- 90 days of hourly noise (σ 0.2 mm) on pit channels with the GB 50497 grade-1 presets and a quality
  rule at its defaults but ``silent_s: 7200``, fed as the live gateway sees it (readings arriving a
  little after their time, the clock ticking every 10 minutes): no alarm of any kind. A 2 mm/d drift
  from day 20 on is caught within a day.
- A crane load step to 1.35 × the rated load is red within one poll period of the reading.
- A 3.0 → 2.8 m/s wind change is no spike.
- Silence: hourly readings with a spike or a NaN among them are heard; polls the device did not
  answer are not. NaN bursts are counted, and judged as nothing else.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from gateway.alarms.book import AlarmEvent
from gateway.config import parse_config
from gateway.site import Site
from gateway.vocab import Quality

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY = 86400.0
HOUR = 3600.0

PIT = """
site: {id: pit}
devices:
  - {id: pit.P1, type: mqtt, period_s: 3600, channels: {disp_h: {unit: mm, range: [-50, 50]}}}
  - {id: pit.P2, type: mqtt, period_s: 3600, channels: {disp_v: {unit: mm}}}
  - {id: pit.G1, type: mqtt, period_s: 3600, channels: {settlement: {unit: mm, range: [-100, 100]}}}
  - {id: pit.C1, type: mqtt, period_s: 3600, channels: {disp_v: {unit: mm}}}
rules:
  - {id: wall_h, preset: gb50497.grade1.wall_top_horizontal.cumulative, channels: [pit.P1.disp_h]}
  - {id: wall_h_rate, preset: gb50497.grade1.wall_top_horizontal.rate, channels: [pit.P1.disp_h]}
  - {id: wall_v, preset: gb50497.grade1.wall_top_vertical.cumulative, channels: [pit.P2.disp_v]}
  - {id: wall_v_rate, preset: gb50497.grade1.wall_top_vertical.rate, channels: [pit.P2.disp_v]}
  - {id: ground, preset: gb50497.grade1.surrounding_settlement.cumulative, channels: [pit.G1.settlement]}
  - {id: ground_rate, preset: gb50497.grade1.surrounding_settlement.rate, channels: [pit.G1.settlement]}
  - {id: column, preset: gb50497.grade1.column_vertical.cumulative, channels: [pit.C1.disp_v]}
  - {id: column_rate, preset: gb50497.grade1.column_vertical.rate, channels: [pit.C1.disp_v]}
  - {id: q, type: quality, channels: ["pit.*.*"], silent_s: 7200}
"""
PIT_CHANNELS = ("pit.P1.disp_h", "pit.P2.disp_v", "pit.G1.settlement", "pit.C1.disp_v")


def live_hourly(
    config: str, values: np.ndarray, rng: np.random.Generator, quality: np.ndarray | None = None
) -> tuple[list[AlarmEvent], Counter[str], int]:
    """Feed (hours, channels) readings as the gateway would: each stamped up to 30 s after the hour
    and arriving 5-90 s after its stamp; the clock ticks every 10 minutes."""
    engine, book = Site(parse_config(config)).analytics()
    hours, n = values.shape
    stamp = T0 + HOUR * np.arange(hours)[:, None] + rng.uniform(0, 30, (hours, n))
    arrival = stamp + rng.uniform(5, 90, (hours, n))
    q = np.zeros((hours, n), dtype=np.uint8) if quality is None else quality
    events: list[AlarmEvent] = []
    rejected: Counter[str] = Counter()
    order = np.argsort(arrival, axis=None, kind="stable")
    arrived = arrival.ravel()[order]
    at = 0
    for tick in T0 + 600.0 * np.arange(1, hours * 6 + 1):
        stop = int(np.searchsorted(arrived, tick, side="right"))
        if stop > at:
            pick = order[at:stop]
            h, c = np.divmod(pick, n)
            result = engine.process(stamp[h, c], c.astype(np.int32), values[h, c], q[h, c])
            events += book.apply(result.transitions)
            rejected.update(result.rejected)
            at = stop
        events += book.apply(engine.tick(float(tick)))
    assert at == hours * n, "every reading was fed"
    return events, rejected, int(engine.state.readings[: len(PIT_CHANNELS)].sum())


def test_ninety_days_of_hourly_noise_raise_nothing() -> None:
    rng = np.random.default_rng(50497)
    hours = 90 * 24
    noise = rng.normal(0.0, 0.2, (hours, len(PIT_CHANNELS)))
    events, rejected, readings = live_hourly(PIT, noise, rng)
    assert readings == hours * len(PIT_CHANNELS)
    assert +rejected == Counter()
    assert [(e.channel, e.rule, e.state) for e in events] == []


def test_a_drift_of_two_mm_a_day_is_caught_within_a_day() -> None:
    rng = np.random.default_rng(2)
    hours = 30 * 24
    days = np.arange(hours)[:, None] / 24.0
    onset = 20.0
    drift = np.where(days > onset, 2.0 * (days - onset), 0.0)
    values = rng.normal(0.0, 0.2, (hours, len(PIT_CHANNELS))) + drift
    events, _, _ = live_hourly(PIT, values, rng)
    assert events, "the drift raises alarms"
    assert min(e.ts for e in events) > T0 + onset * DAY, "nothing before the drift"
    for channel in PIT_CHANNELS:
        rate = [e for e in events if e.channel == channel and e.rule.endswith("_rate")]
        assert rate, f"{channel}: no rate alarm"
        # The true rate jumps from 0 to 2 mm/d past every limit (1.4 / 1.7 / 2.0) at the onset.
        late = rate[0].ts - (T0 + onset * DAY)
        assert late <= DAY, f"{channel}: caught {late:.0f} s after the onset"
        assert rate[0].value >= 1.4
    # A drift is neither a spike nor silence.
    assert not [e for e in events if e.rule.startswith("q.")]


CRANE = """
site: {id: crane}
devices:
  - {id: crane1, type: mqtt, period_s: 0.5, channels: {load: {unit: t, range: [0, 20]},
                                                        radius: {unit: m, range: [0, 60]}}}
rules:
  - {id: crane, preset: gb5144.crane.load, channels: [crane1.load], radius: crane1.radius,
     chart: [[2.5, 6.0], [13.0, 6.0], [30.0, 2.6], [50.0, 1.3]]}
  - {id: q, type: quality, channels: ["crane1.*"]}
"""
POLL_S = 0.5


def crane_readings(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Two minutes: the hook empty at 30 m, then 3.5 t lifted in one poll (rated 2.6 t: 1.35)."""
    n = 240
    t = T0 + POLL_S * np.arange(n)
    load = np.where(np.arange(n) < 120, 0.0, 3.5 + rng.normal(0, 0.01, n))
    radius = 30.0 + rng.normal(0, 0.005, n)
    ts = np.repeat(t, 2)
    channel = np.tile(np.array([0, 1], dtype=np.int32), n)
    value = np.column_stack([load, radius]).ravel()
    return ts, channel, value, float(t[120])


@pytest.mark.parametrize("batch", [2, 480], ids=["streamed", "one-batch"])
def test_a_load_step_past_red_is_red_within_one_poll(batch: int) -> None:
    engine, book = Site(parse_config(CRANE)).analytics()
    ts, channel, value, step_at = crane_readings(np.random.default_rng(1))
    events = []
    for a in range(0, len(ts), batch):
        result = engine.process(ts[a : a + batch], channel[a : a + batch], value[a : a + batch],
                                np.zeros(len(ts[a : a + batch]), dtype=np.uint8))  # fmt: skip
        events += book.apply(result.transitions)
    red = [e for e in events if e.rule == "crane" and e.grade == 3]
    assert red, "the overload is red"
    assert 0 <= red[0].ts - step_at <= POLL_S
    assert red[0].value == pytest.approx(3.5 / 2.6, abs=0.02)
    assert not [e for e in events if e.rule.startswith("q.")], "a real step is no spike"


WIND = """
site: {id: wind}
buses:
  - {id: rs485-1, type: serial, port: "socket://127.0.0.1:8899"}
devices:
  - {id: anemo1, type: modbus, bus: rs485-1, unit: 1, profile: anemometer_rs485, poll_s: 1}
  - {id: anemo2, type: mqtt, period_s: 1, channels: {wind_speed: {unit: m/s, range: [0, 60]}}}
rules:
  - {id: q, type: quality, channels: ["anemo*.wind_speed"]}
"""


def test_a_small_wind_change_is_no_spike() -> None:
    site = Site(parse_config(WIND))
    engine, book = site.analytics()
    # The floor of the spike scale: the register's resolution (0.1 m/s), 0.1 % of the range.
    cols = [site.index.column(f"anemo{i}.wind_speed") for i in (1, 2)]
    events = []
    # A calm reading of 3.0 m/s (a flat channel: MAD 0), then 2.8, back and forth.
    speeds = [3.0] * 60 + [2.8] * 5 + [3.0] * 30 + [2.8, 3.0] * 20
    for k, speed in enumerate(speeds):
        result = engine.process(np.full(2, T0 + k), np.array(cols, dtype=np.int32), np.full(2, speed),
                                np.zeros(2, dtype=np.uint8))  # fmt: skip
        events += book.apply(result.transitions)
    assert events == []
    assert int(engine.state.readings[cols].sum()) == 2 * len(speeds)


def test_a_wind_spike_is_still_a_spike() -> None:
    site = Site(parse_config(WIND))
    engine, book = site.analytics()
    col = site.index.column("anemo2.wind_speed")
    speeds = [3.0 + 0.1 * (k % 3) for k in range(150)]
    speeds[40] = 45.0  # a bird on the cups, a bad frame
    events = []
    for k, speed in enumerate(speeds):
        result = engine.process(np.array([T0 + k]), np.array([col], dtype=np.int32), np.array([speed]),
                                np.zeros(1, dtype=np.uint8))  # fmt: skip
        events += book.apply(result.transitions)
    # Noticed at the next reading; cleared once 15 clean ones have passed and the rule's 60-s dwell
    # (counted from when it last reported the spike) is over.
    assert [(e.rule, str(e.state)) for e in events] == [("q.spike", "raised"), ("q.spike", "cleared")]
    assert events[0].ts - T0 == 41.0
    assert 56.0 + 60.0 <= events[1].ts - T0 <= 56.0 + 60.0 + 1.0


SILENT = """
site: {id: quiet}
devices:
  - {id: pit.P1, type: mqtt, period_s: 3600, channels: {disp_h: {unit: mm, range: [-50, 50]}}}
rules:
  - {id: q, type: quality, channels: [pit.P1.disp_h], silent_s: 7200}
"""


def test_every_reading_is_heard_whatever_its_quality() -> None:
    rng = np.random.default_rng(3)
    hours = 24 * 7
    values = rng.normal(0.0, 0.2, (hours, 1))
    quality = np.zeros((hours, 1), dtype=np.uint8)
    values[30:32, 0] = [25.0, 0.1]  # a spike: held, then a spike notice, but heard
    values[60, 0] = np.nan  # one message without a number: inside silent_s
    values[90:93, 0] = 60.0  # three hours outside the physical range
    events, rejected, _ = live_hourly(SILENT, values, rng, quality)
    assert {e.rule for e in events} == {"q.spike", "q.out_of_range"}
    assert rejected == Counter({"non_finite": 1, "out_of_range": 3})


def test_polls_the_device_did_not_answer_are_not_heard() -> None:
    rng = np.random.default_rng(4)
    hours = 24
    values = rng.normal(0.0, 0.2, (hours, 1))
    quality = np.zeros((hours, 1), dtype=np.uint8)
    values[10:14, 0] = np.nan
    quality[10:14, 0] = Quality.BAD_COMM  # the gateway's record of four unanswered polls
    events, _, _ = live_hourly(SILENT, values, rng, quality)
    silent = [(str(e.state), round((e.ts - T0) / HOUR, 1)) for e in events if e.rule == "q.silent"]
    assert [s for s, _ in silent] == ["raised", "cleared"]
    assert 11.0 <= silent[0][1] <= 11.1  # two hours after the reading of hour 9
    assert 14.0 <= silent[1][1] <= 14.1  # the reading of hour 14 ends it


def test_a_nan_burst_is_counted_and_silent_when_long() -> None:
    rng = np.random.default_rng(5)
    hours = 24
    values = rng.normal(0.0, 0.2, (hours, 1))
    values[10:14, 0] = np.nan  # four hours of messages without a number: the sensor says nothing
    events, rejected, _ = live_hourly(SILENT, values, rng)
    assert rejected == Counter({"non_finite": 4})
    silent = [(str(e.state), round((e.ts - T0) / HOUR, 1)) for e in events if e.rule == "q.silent"]
    assert [s for s, _ in silent] == ["raised", "cleared"]
    assert 11.0 <= silent[0][1] <= 11.1 and 14.0 <= silent[1][1] <= 14.1
    assert {e.rule for e in events} == {"q.silent"}


def test_a_nan_burst_is_judged_as_nothing_else() -> None:
    engine, book = Site(parse_config(PIT)).analytics()
    rng = np.random.default_rng(6)
    n = 24 * 10
    t = T0 + HOUR * np.arange(n)
    value = rng.normal(0.0, 0.2, n)
    value[100:130] = np.nan  # a day and more of NaN from a confused DTU
    value[200:] += 30.0  # then a real move past the cumulative limit
    result = engine.process(t, np.zeros(n, dtype=np.int32), value, np.zeros(n, dtype=np.uint8))
    events = book.apply(result.transitions)
    assert result.rejected == Counter({"non_finite": 30})
    assert int((result.quality[100:130] & Quality.BAD_VALUE != 0).sum()) == 30
    rules = [e.rule for e in events]
    assert "wall_h" in rules, "the move after the burst is judged"
    # The burst is a silence (raised 2 h after the last number, cleared by the next), nothing else.
    assert {r for r in rules if r.startswith("q.")} == {"q.silent"}
    # Cleared by the next number, once the quality rule's 60-s dwell is over (the fall carries that time).
    assert [e.ts - T0 for e in events if e.rule == "q.silent"] == [99 * HOUR + 7200, 130 * HOUR + 60]
