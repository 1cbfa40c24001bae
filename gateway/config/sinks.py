"""Outputs: the local store and the forwarding destinations (platform MQTT uplink, InfluxDB)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gateway.config.strict import ID_PATTERN, Positive, Strict


class RetentionConfig(Strict):
    max_age_days: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        default=90, description="records older than this are evicted, oldest first; null: no age limit"
    )
    max_size_mb: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        default=2048, description="the store is kept under this size by evicting the oldest readings"
    )
    check_every_s: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)] = 60


class SqliteSinkConfig(Strict):
    """The local store (history for the API, and the store-and-forward buffer)."""

    type: Literal["sqlite"]
    path: str = "smartsite.db"
    retention: RetentionConfig = Field(default_factory=RetentionConfig)


class ForwardingConfig(Strict):
    backlog_rate: Positive | None = Field(
        default=10_000,
        description="records per second the backlog drains at, after an outage; null: unbounded",
    )


class MqttSinkConfig(ForwardingConfig):
    """The platform uplink: readings, alarm events and crane cycles over MQTT, QoS 1."""

    type: Literal["mqtt"]
    name: Annotated[str, Field(pattern=ID_PATTERN)] = "mqtt"
    broker: str | None = Field(default=None, description="default: the mqtt.url broker")
    topic_prefix: str | None = Field(default=None, description="default: smartsite/<site id>")
    username: str | None = Field(default=None, description="default: mqtt.username when on mqtt.url")
    password_env: str | None = Field(default=None, description="environment variable with the password")
    client_id: str | None = Field(default=None, description="default: smartsite-<site id>-up")
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    session_expiry_s: Annotated[int, Field(ge=0, le=4294967295)] = Field(
        default=86400, description="MQTT 5: how long the broker keeps the session while we are away"
    )
    ca_file: str | None = Field(default=None, description="mqtts://: CA bundle; default: system CAs")
    cert_file: str | None = Field(default=None, description="mqtts://: client certificate (PEM)")
    key_file: str | None = Field(default=None, description="mqtts://: client key (PEM)")


class InfluxSinkConfig(ForwardingConfig):
    """InfluxDB 2/3 (or any server taking line protocol on /api/v2/write, e.g. VictoriaMetrics)."""

    type: Literal["influxdb"]
    name: Annotated[str, Field(pattern=ID_PATTERN)] = "influxdb"
    url: str = Field(description="http(s)://host:port of the server")
    org: str = ""
    bucket: str = "smartsite"
    token_env: str | None = Field(default=None, description="environment variable with the API token")
    points_per_request: Annotated[int, Field(ge=1, le=100_000)] = 5000
    timeout_s: Annotated[float, Field(gt=0, le=300, allow_inf_nan=False)] = 10
    tags: dict[Annotated[str, Field(pattern=ID_PATTERN)], str] = Field(
        default_factory=dict, description="extra tags on every point"
    )


SinkConfig = Annotated[SqliteSinkConfig | MqttSinkConfig | InfluxSinkConfig, Field(discriminator="type")]
ForwardSinkConfig = MqttSinkConfig | InfluxSinkConfig
