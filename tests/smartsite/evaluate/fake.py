"""A tiny scenario without the scenario package: one MQTT anemometer and one Modbus settlement
reader, a gust over the wind limit, a settlement drift over its limit, a reader that falls silent."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from gateway.config import SiteConfig, parse_config
from smartsite.evaluate import DEFAULT_START_TS, Expectation, Plan

SITE = """
site: {id: fake, timezone: Asia/Shanghai}
mqtt: {url: "mqtt://127.0.0.1:1"}
buses:
  - {id: line1, type: rtu_over_tcp, host: 127.0.0.1, port: 4001}
devices:
  - id: anemo1
    type: mqtt
    channels:
      wind_speed: {unit: m/s, range: [0, 60]}
  - id: fw.S1
    type: modbus
    bus: line1
    unit: 3
    profile: settlement_reader
    registers: {settlement: {range: [-50, 100]}}
rules:
  - id: wind_high
    type: threshold
    channels: [anemo1.wind_speed]
    upper: {yellow: 10.0, orange: 12.0, red: 20.0}
    hysteresis: 0.5
  - id: settle
    type: threshold
    channels: ["fw.*.settlement"]
    upper: {yellow: 6.0, orange: 7.0, red: 8.0}
    hysteresis: 0.2
  - id: alive
    type: quality
    channels: ["anemo1.wind_speed", "fw.*.settlement"]
    silent_s: 30
    spike_k: null
sinks:
  - type: sqlite
    path: data/fake.db
  - type: mqtt
"""


@dataclass(frozen=True, slots=True)
class Frame:
    t_s: float
    device: str
    values: Mapping[str, float | None] | None
    fault: str | None = None


DURATION_S = 600.0


def site() -> SiteConfig:
    return parse_config(SITE, "fake-site.yaml")


def frames() -> Iterator[Frame]:
    """Wind 5 m/s with a gust to 13 m/s over [200, 230) s; settlement creeping 0 -> 9 mm from 300 s;
    the settlement reader silent (cable cut) over [100, 160) s: 60 s > silent_s."""
    for i in range(int(DURATION_S)):
        t = float(i)
        wind = 13.0 if 200 <= t < 230 else 5.0 + 0.1 * (i % 7)
        yield Frame(t, "anemo1", {"wind_speed": wind})
        if i % 5 == 0:
            settlement = 1.0 + max(0.0, t - 300.0) * 0.03 + 0.01 * (i % 3)
            fault = "cable_cut" if 100 <= t < 160 else None
            yield Frame(t, "fw.S1", None if fault else {"settlement": settlement}, fault)


TRUTH = (
    Expectation("anemo1.wind_speed", "wind_high", 2, 195.0, 215.0),
    Expectation("fw.S1.settlement", "alive.silent", 1, 120.0, 170.0),
    # 1 + 0.03 (t - 300) crosses 6 mm at t = 467 s (yellow), 8 mm at 533 s (red); read every 5 s.
    Expectation("fw.S1.settlement", "settle", 3, 465.0, 560.0),
)


def plan(truth: tuple[Expectation, ...] = TRUTH) -> Plan:
    return Plan(
        name="fake",
        site=site(),
        start_ts=DEFAULT_START_TS,
        duration_s=DURATION_S,
        frames=frames,
        expectations=truth,
    )
