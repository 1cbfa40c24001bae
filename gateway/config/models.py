"""The site configuration file, as pydantic models.

Every model forbids unknown keys, so a typo is an error instead of a silently ignored setting.
Checks that need more than one field at a time live in ``gateway.config.meaning``.
"""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from gateway.config.alarm_handling import AlarmsConfig
from gateway.config.channel_model import ChannelConfig
from gateway.config.modbus import BusConfig, ModbusDeviceConfig
from gateway.config.people import Users
from gateway.config.rule_config import RuleConfig
from gateway.config.sinks import SinkConfig
from gateway.config.site_plan import PlanXY
from gateway.config.strict import DEVICE_ID_PATTERN, ID_PATTERN, Strict
from gateway.config.weather import SiteLocation, WeatherConfig


class SiteInfo(Strict):
    id: Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]
    name: str = ""
    plan: str | None = Field(
        default=None, description="site plan image (SVG, PNG, JPEG, WebP), beside the file"
    )
    timezone: str = "Asia/Shanghai"
    store_derived: bool = Field(
        default=True,
        description="store, forward and keep history of computed channels (wind means, crane ratios)",
    )
    location: SiteLocation | None = Field(
        default=None, description="lat/lon (WGS 84) and area codes: which weather warnings cover the site"
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # "America" is a directory
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class PayloadConfig(Strict):
    """Another vendor's payload layout: JSON paths (jsonpath-ng syntax, e.g. ``$.data.ws``)."""

    values: dict[Annotated[str, Field(pattern=ID_PATTERN)], str] = Field(
        min_length=1, description="quantity -> path of its number, inside a reading object"
    )
    ts: str | None = Field(default="$.ts", description="path of the reading's time; null: arrival time")
    readings: str | None = Field(
        default=None, description="path of a list of reading objects (several readings per message)"
    )

    @field_validator("ts", "readings")
    @classmethod
    def _path_parses(cls, value: str | None) -> str | None:
        return None if value is None else _json_path(value)

    @field_validator("values")
    @classmethod
    def _paths_parse(cls, value: dict[str, str]) -> dict[str, str]:
        for path in value.values():
            _json_path(path)
        return value


def _json_path(path: str) -> str:
    from jsonpath_ng import parse

    try:
        parse(path)
    except Exception as exc:  # jsonpath-ng raises lexer, parser and plain exceptions alike
        raise ValueError(f"not a JSON path: {path!r} ({exc})") from None
    return path


# Whose clock stamps a reading: the device's, checked against the gateway's (a reading stamped
# beyond ``clock_tolerance_s`` ahead is refused); the device's, clamped to the arrival time when
# beyond it; or the gateway's (the arrival time) always.
TimeSource = Literal["device_checked", "device", "gateway"]
WEEK_S = 7 * 86400.0


class MqttDeviceConfig(Strict):
    """A sensor that publishes JSON over MQTT (often through a 4G DTU)."""

    type: Literal["mqtt"]
    id: Annotated[str, Field(pattern=DEVICE_ID_PATTERN, max_length=128)]
    name: str = ""
    position: str = ""
    plan_xy: PlanXY | None = Field(default=None, description="place on site.plan: [x, y] fractions")
    topic: str | None = Field(default=None, description="default: <uplink prefix>/devices/<id>/up")
    channels: dict[Annotated[str, Field(pattern=ID_PATTERN)], ChannelConfig]
    payload: PayloadConfig | None = Field(
        default=None, description='default: the contract\'s {"ts": ..., "values": {...}}'
    )
    time_source: TimeSource = Field(
        default="device_checked", description="device_checked | device | gateway: whose clock stamps readings"
    )
    clock_tolerance_s: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)] = Field(
        default=300.0, description="how far ahead of the gateway's clock a device stamp may be"
    )
    max_reading_age_s: Annotated[float, Field(gt=0, le=366 * 86400, allow_inf_nan=False)] = Field(
        default=WEEK_S, description="older readings are refused (a DTU's backlog after an outage is not)"
    )
    period_s: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)] | None = Field(
        default=None, description="how often the device reports; lets check-config judge rule windows"
    )


DeviceConfig = Annotated[MqttDeviceConfig | ModbusDeviceConfig, Field(discriminator="type")]


class MqttBrokerConfig(Strict):
    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password_env: str | None = Field(
        default=None, description="name of the environment variable holding the password"
    )
    client_id: str | None = Field(default=None, description="default: smartsite-<site id>-in")
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 30
    persistent_session: bool = Field(
        default=True,
        description="the broker keeps QoS 1 sensor messages for the gateway while it restarts",
    )
    inflight_window: Annotated[int, Field(ge=1, le=65535)] = Field(
        default=20,
        description="QoS 1 messages the broker sends before it waits for our acknowledgement "
        "(mosquitto's max_inflight_messages, 20 unless set); the gateway acknowledges once stored, "
        "so a small window caps intake: see docs/forwarding.md",
    )
    broker_config: str | None = Field(
        default=None,
        description="the site broker's mosquitto.conf, when on this PC: check-config warns when "
        "its in-flight window or queue is too small for the gateway",
    )


class TokenConfig(Strict):
    role: Literal["viewer", "supervisor", "admin", "platform"]
    env: str = Field(description="name of the environment variable holding the bearer token")


class ApiConfig(Strict):
    bind: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    tokens: list[TokenConfig] = Field(default_factory=list)
    users: Users = Field(default_factory=list, description="people with their own tokens (name, role)")
    anonymous_role: Literal["none", "viewer"] = Field(
        default="viewer", description="role of a request without a token"
    )


class SiteConfig(Strict):
    """The whole site file."""

    site: SiteInfo
    mqtt: MqttBrokerConfig = Field(default_factory=MqttBrokerConfig)
    buses: list[BusConfig] = Field(default_factory=list, description="Modbus buses devices name")
    devices: list[DeviceConfig] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)
    sinks: list[SinkConfig] = Field(default_factory=list)
    api: ApiConfig = Field(default_factory=ApiConfig)
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig)
    weather: WeatherConfig = Field(default_factory=WeatherConfig)

    @property
    def topic_prefix(self) -> str:
        return f"smartsite/{self.site.id}"
