"""Device time at the MQTT intake: plausible epochs, and each device's stamps checked against the gateway."""

from __future__ import annotations

import json
import logging
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from drivers.device_time import (
    CLAMPED_TS,
    FUTURE_TS,
    IMPLAUSIBLE_TS,
    TOO_OLD,
    TimePolicy,
    epoch_seconds,
    epoch_seconds_array,
    judge_stamp,
)
from drivers.mqtt_link import MqttLink
from drivers.mqtt_payload import DeviceBinding, decode_payload
from drivers.mqtt_source import MqttSource
from gateway.vocab import Quality
from tests.support import FakeClock

SITE_TZ = ZoneInfo("Asia/Shanghai")
NOW = 1_780_000_000.0  # 2026-05-28T20:26:40Z, the gateway's clock
DAY = 86400.0
CHECKED = TimePolicy("device_checked", 300.0, 7 * DAY)
DEVICE = TimePolicy("device", 300.0, 7 * DAY)
GATEWAY = TimePolicy("gateway", 300.0, 7 * DAY)


def payload(ts: Any, **values: float) -> bytes:
    return json.dumps({"ts": ts, "values": values or {"settlement": 1.0}}).encode()


Decoded = tuple[list[float], list[int], dict[str, int]]


def decode(ts: Any, policy: TimePolicy = CHECKED, arrival: float = NOW) -> Decoded:
    binding = DeviceBinding("fw1.S1", {"settlement": 0, "tilt": 1}, time=policy)
    out = decode_payload(payload(ts), binding, arrival, SITE_TZ)
    assert out.malformed is None
    return out.ts, out.quality, out.problems


@pytest.mark.parametrize(
    ("stamp", "policy", "expected"),
    [
        # device_checked: a stamp up to the tolerance ahead is the device's; beyond it, refused.
        (NOW + 299, CHECKED, (NOW + 299, None, False)),
        (NOW + 301, CHECKED, (None, FUTURE_TS, False)),
        (NOW + 365 * DAY, CHECKED, (None, FUTURE_TS, False)),
        # A DTU's backlog after a 4G outage: days old and still taken, up to max_reading_age_s.
        (NOW - 3 * DAY, CHECKED, (NOW - 3 * DAY, None, False)),
        (NOW - 8 * DAY, CHECKED, (None, TOO_OLD, False)),
        # device: kept, but never ahead beyond the tolerance: the arrival time instead.
        (NOW + 120, DEVICE, (NOW + 120, None, False)),
        (NOW + 3600, DEVICE, (NOW, CLAMPED_TS, True)),
        (NOW - 8 * DAY, DEVICE, (None, TOO_OLD, False)),
        # gateway: the arrival time, whatever the device says.
        (NOW - 3 * DAY, GATEWAY, (NOW, None, True)),
        (NOW + 3600, GATEWAY, (NOW, None, True)),
    ],
)
def test_judge_stamp(stamp: float, policy: TimePolicy, expected: tuple[Any, ...]) -> None:
    verdict = judge_stamp(stamp, NOW, policy)
    assert (verdict.ts, verdict.reason, verdict.estimated) == expected


def test_epoch_units_by_magnitude_scalar_and_array_agree() -> None:
    raw = np.array(
        [NOW, NOW * 1e3, NOW * 1e6, NOW * 1e9, 253_402_300_800.0, 0.0, -NOW, np.nan, np.inf, 1e11, 9e8]
    )
    expected = [NOW, NOW, NOW, NOW] + [None] * 7
    assert [epoch_seconds(float(x)) for x in raw] == expected
    got = epoch_seconds_array(raw)
    assert [None if np.isnan(x) else float(x) for x in got] == expected


CASES = {
    "an_hour_ahead": (NOW + 3600, [], [], {FUTURE_TS: 1}),
    "a_year_ahead": (NOW + 365 * DAY, [], [], {FUTURE_TS: 1}),
    "year_10000_in_seconds": (253_402_300_800, [], [], {IMPLAUSIBLE_TS: 1}),
    "year_2001": (978_307_200, [], [], {TOO_OLD: 1}),
    "year_1999": (946_684_799, [], [], {IMPLAUSIBLE_TS: 1}),
    "milliseconds": (int(NOW * 1000) - 5_250, [NOW - 5.25], [Quality.GOOD], {}),
    "backlog_of_two_days": (NOW - 2 * DAY, [NOW - 2 * DAY], [Quality.GOOD], {}),
    # Naive ISO is site time: 2026-05-29T04:26:30 in Shanghai (UTC+8) is NOW - 10 s.
    "naive_iso_in_site_zone": ("2026-05-29T04:26:30", [NOW - 10], [Quality.GOOD], {}),
    "iso_with_zone": ("2026-05-28T20:26:30Z", [NOW - 10], [Quality.GOOD], {}),
    "iso_with_other_zone": ("2026-05-28T22:26:30+02:00", [NOW - 10], [Quality.GOOD], {}),
    "naive_iso_an_hour_ahead": ("2026-05-29T05:26:40", [], [], {FUTURE_TS: 1}),
    "iso_year_9999": ("9999-12-31T23:59:59Z", [], [], {IMPLAUSIBLE_TS: 1}),
}


@pytest.mark.parametrize(("ts", "times", "quality", "problems"), CASES.values(), ids=CASES.keys())
def test_decoded_times(ts: Any, times: list[float], quality: list[int], problems: dict[str, int]) -> None:
    assert decode(ts) == (times, quality, problems)


def test_a_refused_time_refuses_every_value_of_the_reading() -> None:
    binding = DeviceBinding("fw1.S1", {"settlement": 0, "tilt": 1}, time=CHECKED)
    out = decode_payload(payload(NOW + 3600, settlement=1.0, tilt=0.5), binding, NOW, SITE_TZ)
    assert (out.ts, out.problems, out.newest_stamp) == ([], {FUTURE_TS: 2}, NOW + 3600)
    assert out.details[FUTURE_TS] == "stamped 3600 s ahead of the gateway clock (tolerance 300 s)"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (CHECKED, ([], [], {FUTURE_TS: 1})),
        (DEVICE, ([NOW], [Quality.TIME_ESTIMATED], {CLAMPED_TS: 1})),
        (GATEWAY, ([NOW], [Quality.TIME_ESTIMATED], {})),
    ],
    ids=["device_checked", "device", "gateway"],
)
def test_each_time_source_on_a_stamp_an_hour_ahead(policy: TimePolicy, expected: tuple[Any, ...]) -> None:
    assert decode(NOW + 3600, policy) == expected


def test_gateway_time_source_takes_arrival_even_for_good_stamps() -> None:
    assert decode(NOW - 30, GATEWAY) == ([NOW], [Quality.TIME_ESTIMATED], {})
    # A clock declared untrusted may say anything, even the year 10000 or nonsense.
    assert decode(253_402_300_800, GATEWAY) == ([NOW], [Quality.TIME_ESTIMATED], {})
    assert decode("1970-01-01T00:00:00Z", GATEWAY) == ([NOW], [Quality.TIME_ESTIMATED], {})
    assert decode(NOW - 30, DEVICE) == ([NOW - 30], [Quality.GOOD], {})


def source(
    clock: FakeClock, policy: TimePolicy = CHECKED
) -> tuple[MqttSource, list[tuple[str, float, float]]]:
    seen: list[tuple[str, float, float]] = []
    binding = DeviceBinding("fw1.S1", {"settlement": 0}, time=policy)
    src = MqttSource(
        MqttLink.from_url("mqtt://127.0.0.1:1"),
        {"up/fw1.S1": binding},
        wildcard=None,
        naive_tz=SITE_TZ,
        clock=clock,
        clock_watch=lambda device, arrival, offset: seen.append((device, arrival, offset)),
    )
    return src, seen


def test_source_counts_time_refusals_and_logs_once_per_episode(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(NOW)
    src, seen = source(clock)
    caplog.set_level(logging.WARNING, logger="drivers.mqtt_source")
    for episode in range(2):
        for _ in range(5):  # five readings an hour ahead: refused, counted, logged once
            clock.now += 1
            assert src._decode("up/fw1.S1", payload(clock.now + 3600)) is None
        clock.now += 1
        batch = src._decode("up/fw1.S1", payload(clock.now))
        assert batch is not None and batch.ts.tolist() == [clock.now]
        assert src.stats["fw1.S1"].rejected == {FUTURE_TS: 5 * (episode + 1)}
    lines = [r.getMessage() for r in caplog.records]
    assert (
        lines
        == [
            "device fw1.S1: future_ts (stamped 3600 s ahead of the gateway clock (tolerance 300 s)); "
            "further ones are only counted",
            "device fw1.S1: readings stamped in time again (meanwhile 5 future_ts)",
        ]
        * 2
    )
    assert [round(offset) for _, _, offset in seen] == ([3600] * 5 + [0]) * 2
    assert src.rejected_total() == {"fw1.S1": {FUTURE_TS: 10}}


def test_source_with_gateway_time_reports_no_clock_offsets() -> None:
    clock = FakeClock(NOW)
    src, seen = source(clock, GATEWAY)
    batch = src._decode("up/fw1.S1", payload(NOW + 3600))
    assert batch is not None and batch.ts.tolist() == [NOW]
    assert seen == [] and src.rejected_total() == {}


def test_site_devices_get_their_time_rules_with_defaults_for_a_site_that_never_tunes_them() -> None:
    from gateway.config import parse_config
    from gateway.site import Site

    config = parse_config(
        """
site: {id: t1}
devices:
  - {id: a, type: mqtt, channels: {x: {}}}
  - {id: b, type: mqtt, time_source: device, clock_tolerance_s: 60, max_reading_age_s: 3600,
     channels: {x: {}}}
"""
    )
    times = {b.device: b.time for b in Site(config).device_topics().values()}
    assert times == {
        "a": TimePolicy("device_checked", 300.0, 7 * DAY),
        "b": TimePolicy("device", 60.0, 3600.0),
    }
