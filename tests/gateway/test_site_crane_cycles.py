"""The site builds one cycle detector spec per crane load channel, from the crane rules."""

from __future__ import annotations

from gateway.config import parse_config
from gateway.site import Site

SITE = """
site: {id: t1}
devices:
  - id: crane1
    type: mqtt
    channels: {load: {unit: t}, radius: {unit: m}, height: {unit: m}}
  - id: crane2
    type: mqtt
    channels: {load: {unit: t}, radius: {unit: m}}
  - id: anemo1
    type: mqtt
    channels: {wind_speed: {unit: m/s}}
rules:
  - id: wind_levels
    type: wind
    channels: [anemo1.wind_speed]
  - id: crane1_moment
    type: crane
    channels: [crane1.load]
    radius: crane1.radius
    chart: [[2.5, 6.0], [50.0, 1.3]]
    cycles: {start_t: 1.0, stop_t: 0.5, min_duration_s: 2, max_gap_s: 10}
  - id: crane2_moment
    type: crane
    channels: [crane2.load]
    radius: crane2.radius
    chart: [[2.5, 8.0], [60.0, 1.5]]
"""


def test_each_crane_gets_its_columns_and_thresholds() -> None:
    site = Site(parse_config(SITE))
    detector = site.cycle_detector()
    assert detector is not None
    first, second = detector.specs
    column = site.index.column
    assert (first.crane, first.load, first.radius) == (
        "crane1",
        column("crane1.load"),
        column("crane1.radius"),
    )
    assert first.height == column("crane1.height") and second.height is None
    assert first.wind == second.wind == column("anemo1.wind_speed")
    assert (first.start_t, first.stop_t, first.min_duration_s, first.max_gap_s) == (1.0, 0.5, 2.0, 10.0)
    assert (second.start_t, second.stop_t, second.min_duration_s, second.max_gap_s) == (0.2, 0.1, 5.0, 30.0)
    assert first.chart is not None and first.chart.rated_load(50.0) == 1.3


def test_a_site_without_cranes_has_no_detector() -> None:
    site = Site(parse_config("site: {id: t1}\n"))
    assert site.cycle_detector() is None
