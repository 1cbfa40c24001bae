"""Checks for meaning: what types alone cannot catch (duplicates, order of limits, references)."""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable
from urllib.parse import urlsplit

from gateway.config.channel_ids import ChannelEntry, match_channels, site_channels
from gateway.config.derived import derived_channels
from gateway.config.meaning_modbus import check_modbus
from gateway.config.meaning_quality import check_quality_rule
from gateway.config.meaning_site_rules import check_site_rule
from gateway.config.meaning_trend import check_trend_rule
from gateway.config.meaning_weather import check_weather
from gateway.config.models import MqttDeviceConfig, SiteConfig
from gateway.config.people import check_people
from gateway.config.problem import KeyPath, Problem
from gateway.config.rule_config import (
    CraneRuleConfig,
    CumulativeRuleConfig,
    QualityRuleConfig,
    RuleConfig,
    ThresholdRuleConfig,
    WindRuleConfig,
)
from gateway.config.secrets import check_secrets
from gateway.vocab.broker_url import parse_broker_url


def check_meaning(config: SiteConfig) -> list[Problem]:
    problems: list[Problem] = []
    problems += _check_devices(config)
    problems += _check_rules(config)
    problems += _check_sinks(config)
    problems += _check_mqtt_url(("mqtt", "url"), config.mqtt.url)
    problems += check_secrets(config)
    problems += _check_api(config)
    problems += check_people(config.api.users, [t.env for t in config.api.tokens])
    problems += check_modbus(config)
    problems += check_weather(config)
    return problems


def _check_devices(config: SiteConfig) -> list[Problem]:
    problems: list[Problem] = []
    seen_ids: dict[str, int] = {}
    seen_topics: dict[str, int] = {}
    for i, device in enumerate(config.devices):
        if device.id in seen_ids:
            problems.append(
                Problem(
                    ("devices", i, "id"),
                    f"duplicate device id {device.id!r} (also devices[{seen_ids[device.id]}])",
                )
            )
        seen_ids.setdefault(device.id, i)
        if not isinstance(device, MqttDeviceConfig):
            continue  # Modbus devices: check_modbus judges their registers
        if not device.channels:
            problems.append(Problem(("devices", i, "channels"), "a device needs at least one channel"))
        for quantity in device.payload.values if device.payload is not None else {}:
            if quantity not in device.channels:
                problems.append(
                    Problem(("devices", i, "payload", "values", quantity), "not one of the device's channels")
                )
        if device.topic is not None:
            if any(c in device.topic for c in "+#"):
                problems.append(
                    Problem(("devices", i, "topic"), "a device topic may not hold MQTT wildcards")
                )
            if device.topic in seen_topics:
                problems.append(
                    Problem(
                        ("devices", i, "topic"),
                        f"topic also used by devices[{seen_topics[device.topic]}]",
                    )
                )
            seen_topics.setdefault(device.topic, i)
        for quantity, channel in device.channels.items():
            if channel.range is not None and not channel.range[0] < channel.range[1]:
                problems.append(
                    Problem(
                        ("devices", i, "channels", quantity, "range"),
                        "range must be [low, high] with low < high",
                    )
                )
    seen_channels: dict[str, int] = {}
    for entry in site_channels(config):
        if entry.id in seen_channels and seen_channels[entry.id] != entry.device_index:
            problems.append(
                Problem(
                    ("devices", entry.device_index, "channels", entry.quantity),
                    f"duplicate channel id {entry.id!r} (also from devices[{seen_channels[entry.id]}])",
                )
            )
        seen_channels.setdefault(entry.id, entry.device_index)
    return problems


def _check_rules(config: SiteConfig) -> list[Problem]:
    problems: list[Problem] = []
    sensors = list(site_channels(config))
    sensor_ids = [entry.id for entry in sensors]
    # Rules that compute channels take sensors' channels only; the rest may use computed ones too.
    sources: dict[int, list[str]] = {}
    for i, rule in enumerate(config.rules):
        if isinstance(rule, (WindRuleConfig, CraneRuleConfig)):
            sources[i], found_problems = _match(("rules", i), rule.channels, sensor_ids, config)
            problems += found_problems
    derived = derived_channels(config, sensors, sources)
    channels = {entry.id: entry for entry in sensors + derived}
    ids = list(channels)
    seen: dict[str, int] = {}
    for i, rule in enumerate(config.rules):
        base: KeyPath = ("rules", i)
        if rule.id in seen:
            problems.append(
                Problem((*base, "id"), f"duplicate rule id {rule.id!r} (also rules[{seen[rule.id]}])")
            )
        seen.setdefault(rule.id, i)
        if i in sources:
            matched = sources[i]
        else:
            matched, found_problems = _match(base, rule.channels, ids, config)
            problems += found_problems
        problems += _check_kind(base, rule, matched, channels, sensor_ids)
    return problems


def _match(
    base: KeyPath, patterns: list[str], ids: list[str], config: SiteConfig
) -> tuple[list[str], list[Problem]]:
    problems: list[Problem] = []
    matched: list[str] = []
    for j, pattern in enumerate(patterns):
        found = match_channels(pattern, ids)
        if not found:
            device = pattern.rsplit(".", 1)[0]
            known_device = any(d.id == device for d in config.devices)
            what = "unknown channel" if known_device else f"unknown device {device!r} in channel"
            problems.append(
                Problem((*base, "channels", j), f"{what} {pattern!r}: no channel of the site matches")
            )
        matched += [c for c in found if c not in matched]
    return matched, problems


def _check_kind(
    base: KeyPath,
    rule: RuleConfig,
    matched: list[str],
    channels: dict[str, ChannelEntry],
    sensor_ids: list[str],
) -> list[Problem]:
    problems: list[Problem] = []
    debounce = rule.debounce if isinstance(rule, (ThresholdRuleConfig, CumulativeRuleConfig)) else None
    if debounce is not None and debounce.count > debounce.of:
        problems.append(Problem((*base, "debounce", "count"), "count must not exceed 'of'"))
    if isinstance(rule, ThresholdRuleConfig):
        problems += _check_threshold(base, rule, [channels[c].config.range for c in matched])
    elif isinstance(rule, CumulativeRuleConfig):
        problems += _check_threshold(base, rule, [None for _ in matched])
        if isinstance(rule.baseline, dict):
            for channel in rule.baseline:
                if channel not in matched:
                    problems.append(
                        Problem((*base, "baseline", channel), "not one of the channels this rule judges")
                    )
    for check in KIND_CHECKS:
        problems += check(base, rule, sensor_ids)
    return problems


# Checks for the other rule kinds, given the sensors' channel ids: each returns problems for the
# rules of its kinds and none for others.
KindCheck = Callable[[KeyPath, RuleConfig, list[str]], list[Problem]]


def _check_quality(base: KeyPath, rule: RuleConfig, sensor_ids: list[str]) -> list[Problem]:
    return check_quality_rule(base, rule) if isinstance(rule, QualityRuleConfig) else []


def _check_trend(base: KeyPath, rule: RuleConfig, sensor_ids: list[str]) -> list[Problem]:
    return check_trend_rule(base, rule)


KIND_CHECKS: list[KindCheck] = [check_site_rule, _check_quality, _check_trend]


def _check_threshold(
    base: KeyPath,
    rule: ThresholdRuleConfig | CumulativeRuleConfig,
    ranges: list[tuple[float, float] | None],
) -> list[Problem]:
    problems: list[Problem] = []
    if rule.upper is None and rule.lower is None:
        return [Problem(base, "a threshold rule needs 'upper' or 'lower' limits")]
    for side, limits, rising in (("upper", rule.upper, True), ("lower", rule.lower, False)):
        if limits is None:
            continue
        set_limits = [
            (name, v)
            for name, v in zip(("yellow", "orange", "red"), limits.as_tuple(), strict=True)
            if v is not None
        ]
        if not set_limits:
            problems.append(Problem((*base, side), "give at least one of yellow, orange, red"))
        for (n1, v1), (n2, v2) in itertools.pairwise(set_limits):
            if rising and not v1 < v2:
                problems.append(
                    Problem(
                        (*base, side, n2),
                        f"{n2} ({v2}) must be above {n1} ({v1}): grades rise with the value",
                    )
                )
            if not rising and not v1 > v2:
                problems.append(
                    Problem(
                        (*base, side, n2),
                        f"{n2} ({v2}) must be below {n1} ({v1}): lower limits fall with the grade",
                    )
                )
        for name, value in set_limits:
            for rng in ranges:
                if rng is not None and not rng[0] <= value <= rng[1]:
                    problems.append(
                        Problem(
                            (*base, side, name),
                            f"{value} is outside a matched channel's range {list(rng)}: it could never fire",
                        )
                    )
                    break
    if rule.upper is not None and rule.lower is not None:
        lower_set = [v for v in rule.lower.as_tuple() if v is not None]
        upper_set = [v for v in rule.upper.as_tuple() if v is not None]
        highest_lower = max(lower_set) if lower_set else None
        lowest_upper = min(upper_set) if upper_set else None
        if highest_lower is not None and lowest_upper is not None and not highest_lower < lowest_upper:
            problems.append(Problem((*base, "lower"), "every lower limit must be below every upper limit"))
    return problems


def _check_sinks(config: SiteConfig) -> list[Problem]:
    problems: list[Problem] = []
    stores: list[int] = []
    names: dict[str, int] = {}
    for i, sink in enumerate(config.sinks):
        if sink.type == "sqlite":
            if stores:
                problems.append(
                    Problem(("sinks", i, "type"), f"a second sqlite store (also sinks[{stores[0]}])")
                )
            stores.append(i)
            continue
        if sink.name in names:
            problems.append(
                Problem(
                    ("sinks", i, "name"),
                    f"destination name {sink.name!r} is also sinks[{names[sink.name]}]'s: give each its own",
                )
            )
        names.setdefault(sink.name, i)
        if sink.type == "mqtt":
            if sink.broker is not None:
                problems += _check_mqtt_url(("sinks", i, "broker"), sink.broker)
            tls = (sink.broker or config.mqtt.url).startswith("mqtts://")
            for key in ("ca_file", "cert_file", "key_file"):
                if getattr(sink, key) is not None and not tls:
                    problems.append(Problem(("sinks", i, key), "TLS files need an mqtts:// broker URL"))
            if (sink.cert_file is None) != (sink.key_file is None):
                problems.append(
                    Problem(("sinks", i, "key_file"), "a client certificate needs its key, and back")
                )
        else:
            problems += _check_http_url(("sinks", i, "url"), sink.url)
    return problems


def _check_http_url(path: KeyPath, url: str) -> list[Problem]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return [Problem(path, f"not a valid URL: {exc}")]
    if parts.scheme not in ("http", "https"):
        return [Problem(path, f"scheme must be http:// or https://, not {parts.scheme or 'none'!r}")]
    if not parts.hostname:
        return [Problem(path, "the URL names no host")]
    if port == 0:
        return [Problem(path, "port 0 is not a server port")]
    return []


def _check_mqtt_url(path: KeyPath, url: str) -> list[Problem]:
    try:
        parse_broker_url(url)
    except ValueError as exc:
        return [Problem(path, str(exc))]
    return []


def _check_api(config: SiteConfig) -> list[Problem]:
    problems: list[Problem] = []
    api = config.api
    try:
        loopback = api.bind == "localhost" or ipaddress.ip_address(api.bind).is_loopback
    except ValueError:
        return [Problem(("api", "bind"), f"not an IP address: {api.bind!r}")]
    if not loopback and api.anonymous_role != "none":
        problems.append(
            Problem(("api", "anonymous_role"), "must be 'none' when api.bind is not a loopback address")
        )
    if not loopback and not api.tokens and not api.users:
        problems.append(Problem(("api", "tokens"), "a gateway reachable from the network needs tokens"))
    return problems
