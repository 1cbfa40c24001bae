"""Warnings about rules that do not fit how often their devices report (``check-config``).

A device's period is its Modbus ``poll_s``, or an MQTT device's declared ``period_s`` (without it
nothing is judged). These are warnings, not errors: the gateway runs, but the rule cannot work as
its numbers suggest, for instance a 6-hour rate on hourly data, or ``silent_s`` inside the period.
"""

from __future__ import annotations

from collections.abc import Iterator

from gateway.config.channel_ids import match_channels, site_channels
from gateway.config.derived import derived_channels, device_of
from gateway.config.modbus import ModbusDeviceConfig
from gateway.config.models import MqttDeviceConfig, SiteConfig
from gateway.config.problem import KeyPath, Problem
from gateway.config.rule_config import (
    AccelerationRuleConfig,
    CraneRuleConfig,
    FailureForecastRuleConfig,
    QualityRuleConfig,
    RateRuleConfig,
    RuleConfig,
    TimeToLimitRuleConfig,
    WindRuleConfig,
)

# The robust fit drops outlying readings by the median and MAD of its window, then fits a line:
# with fewer readings than this, one bad reading moves both, and the slope's standard error (which
# a rate is judged with) is too wide to tell a trend from noise.
MIN_READINGS_PER_WINDOW = 10
# One late or lost reading must not raise "silent": silent_s should span two periods.
SILENT_PERIODS = 2.0
# The wind rule's 3-s mean (the gust) needs a reading at least this often.
WIND_PERIOD_S = 3.0


def device_periods(config: SiteConfig) -> dict[str, float]:
    """Reporting period of every device that has a known one."""
    out: dict[str, float] = {}
    for device in config.devices:
        if isinstance(device, ModbusDeviceConfig):
            out[device.id] = device.poll_s
        elif isinstance(device, MqttDeviceConfig) and device.period_s is not None:
            out[device.id] = device.period_s
    return out


def check_periods(config: SiteConfig) -> list[Problem]:
    """Warnings, for a site file that passed every other check."""
    periods = device_periods(config)
    if not periods:
        return []
    warnings: list[Problem] = []
    for i, rule, channels in rules_with_channels(config):
        known = [(c, periods[device_of(c)]) for c in channels if device_of(c) in periods]
        if not known:
            continue
        # The slowest device decides: a window too short for it is too short.
        channel, period = max(known, key=lambda cp: cp[1])
        warnings += _check_rule(("rules", i), rule, channel, period)
    return warnings


def rules_with_channels(config: SiteConfig) -> Iterator[tuple[int, RuleConfig, list[str]]]:
    """Every rule with the channels (sensors' and computed) it judges."""
    sensors = list(site_channels(config))
    sensor_ids = [s.id for s in sensors]
    sources = {
        i: _matched(rule.channels, sensor_ids)
        for i, rule in enumerate(config.rules)
        if isinstance(rule, (WindRuleConfig, CraneRuleConfig))
    }
    ids = sensor_ids + [d.id for d in derived_channels(config, sensors, sources)]
    for i, rule in enumerate(config.rules):
        yield i, rule, sources[i] if i in sources else _matched(rule.channels, ids)


def _matched(patterns: list[str], ids: list[str]) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        found += [c for c in match_channels(pattern, ids) if c not in found]
    return found


def _every(period: float) -> str:
    if period >= 3600:
        return f"{period / 3600:g} h"
    if period >= 60:
        return f"{period / 60:g} min"
    return f"{period:g} s"


def _check_rule(base: KeyPath, rule: RuleConfig, channel: str, period: float) -> list[Problem]:
    device = device_of(channel)
    where = f"{device} reports every {_every(period)}"
    out: list[Problem] = []

    def window(key: str, seconds: float, least: int, what: str) -> None:
        readings = seconds / period
        if readings < least:
            out.append(
                Problem(
                    (*base, key),
                    f"warning: {where}, so {key} {_every(seconds)} holds about {readings:.3g} readings; "
                    f"{what} needs at least {least}: use at least {_every(least * period)}",
                )
            )

    if isinstance(rule, (RateRuleConfig, TimeToLimitRuleConfig)):
        least = max(MIN_READINGS_PER_WINDOW, rule.min_samples)
        window("window_s", rule.window_s, least, "a trend judged with its uncertainty")
    elif isinstance(rule, AccelerationRuleConfig):
        window("window_s", rule.window_s, MIN_READINGS_PER_WINDOW, "each window's rate")
    elif isinstance(rule, FailureForecastRuleConfig):
        window("velocity_window_s", rule.velocity_window_s, MIN_READINGS_PER_WINDOW, "each velocity")
    elif isinstance(rule, QualityRuleConfig):
        if rule.silent_s is not None and rule.silent_s < SILENT_PERIODS * period:
            fate = "every reading" if rule.silent_s <= period else "one late or lost reading"
            out.append(
                Problem(
                    (*base, "silent_s"),
                    f"warning: {where}, so silent_s {_every(rule.silent_s)} raises silent at {fate}: "
                    f"use at least {_every(SILENT_PERIODS * period)}",
                )
            )
        if rule.stuck_window_s is not None:
            window("stuck_window_s", rule.stuck_window_s, rule.stuck_min_samples, "the stuck check")
    elif isinstance(rule, WindRuleConfig) and period > WIND_PERIOD_S:
        out.append(
            Problem(
                (*base, "channels"),
                f"warning: {where}; the 3-s mean wind (the gust) needs a reading at least every "
                f"{WIND_PERIOD_S:g} s",
            )
        )
    return out
