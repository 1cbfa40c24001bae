"""The device clock notice: raised once when a device's clock is off, cleared when it is good again."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.alarms.clock_notice import ClockNotices
from gateway.config import MqttDeviceConfig, parse_config

NOW = 1_780_000_000.0

SITE = """
site: {id: t1}
devices:
  - {id: pit.P1, type: mqtt, channels: {disp_h: {unit: mm}}}
  - {id: pit.P2, type: mqtt, clock_tolerance_s: 60, channels: {disp_h: {unit: mm}}}
  - {id: dtu9, type: mqtt, time_source: gateway, channels: {level: {unit: m}}}
"""


def notices() -> ClockNotices:
    config = parse_config(SITE)
    return ClockNotices("t1", [d for d in config.devices if isinstance(d, MqttDeviceConfig)])


def test_ahead_raises_once_and_clears_when_the_clock_is_good() -> None:
    n = notices()
    raised = n.observe("pit.P1", NOW, 3600.0)
    assert len(raised) == 1
    e = raised[0]
    assert (e.channel, e.rule, e.grade, e.state, e.unit) == ("pit.P1.clock", "device_clock", 1, "raised", "s")
    assert (e.value, e.limit, e.ts) == (3600.0, 300.0, NOW)
    assert e.message == (
        "device pit.P1: clock 3600 s ahead of the gateway (tolerance 300 s); "
        "its readings' times cannot be trusted"
    )
    assert n.off() == ["pit.P1"]
    # Still ahead, or further: no second notice.
    for i in range(1, 20):
        assert n.observe("pit.P1", NOW + i, 3600.0 + 100 * i) == []
    cleared = n.observe("pit.P1", NOW + 30, -2.0)
    assert [(c.state, c.grade, c.alarm_id) for c in cleared] == [("cleared", 0, e.alarm_id)]
    assert cleared[0].message == "device pit.P1: clock back in step with the gateway (off by -2 s)"
    assert n.off() == []
    # A good clock stays quiet; a new jump is a new notice.
    assert n.observe("pit.P1", NOW + 40, 250.0) == []
    again = n.observe("pit.P1", NOW + 50, 9 * 86400.0)
    assert [a.state for a in again] == ["raised"] and "9.0 days ahead" in again[0].message


def test_each_device_has_its_own_tolerance() -> None:
    n = notices()
    assert n.observe("pit.P1", NOW, 120.0) == []
    assert [e.channel for e in n.observe("pit.P2", NOW, 120.0)] == ["pit.P2.clock"]


def test_a_clock_steadily_behind_raises_after_the_tolerance_of_arrival_time() -> None:
    n = notices()
    offset = -2 * 3600.0
    events = [(t, n.observe("pit.P1", NOW + t, offset + (t % 7))) for t in range(0, 600, 10)]
    raised = [(t, e) for t, found in events for e in found]
    assert [(t, e.state) for t, e in raised] == [(300, "raised")]
    assert raised[0][1].limit == -300.0 and "2.0 h behind" in raised[0][1].message


def test_a_backlog_catching_up_is_not_a_clock_that_is_off() -> None:
    """A DTU sends a day of buffered hourly readings after a 4G outage, ten a second, then live ones."""
    n = notices()
    found = []
    for k in range(24):
        stamp = NOW - 24 * 3600.0 + k * 3600.0
        arrival = NOW + k * 0.1
        found += n.observe("pit.P1", arrival, stamp - arrival)
    for k in range(100):  # then live, once a minute
        found += n.observe("pit.P1", NOW + 10 + 60 * k, -1.5)
    assert found == [] and n.off() == []


def test_gateway_time_devices_and_unknown_devices_raise_nothing() -> None:
    n = notices()
    assert n.observe("dtu9", NOW, 86400.0) == []
    assert n.observe("nobody", NOW, 86400.0) == []


def test_runtime_sends_the_notice_down_the_pipeline_and_evaluate_trusts_device_clocks(tmp_path: Path) -> None:
    from gateway.runtime import Runtime

    config = parse_config(SITE)
    topic = "smartsite/t1/devices/pit.P1/up"
    ahead = json.dumps({"ts": NOW + 3600, "values": {"disp_h": 1.0}}).encode()

    live = Runtime(config, base_dir=tmp_path, clock=lambda: NOW)
    assert live.sources[0]._decode(topic, ahead) is None  # type: ignore[union-attr]
    assert live.pipeline.stats.events == 1
    queued = live.pipeline.workers[0].queue.get_nowait()  # the alarm desk's
    assert [(e.channel, e.state) for e in queued.events] == [("pit.P1.clock", "raised")]
    assert live.health()["clocks_off"] == ["pit.P1"]
    assert live.health()["rejected"] == {"future_ts": 1}

    evaluated = Runtime(config, base_dir=tmp_path / "e", clock=lambda: NOW, trust_device_clocks=True)
    batch = evaluated.sources[0]._decode(topic, ahead)  # type: ignore[union-attr]
    assert batch is not None and batch.ts.tolist() == [NOW + 3600]
    assert evaluated.pipeline.stats.events == 0 and evaluated.health()["clocks_off"] == []
