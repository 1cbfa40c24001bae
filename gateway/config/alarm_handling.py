"""Alarm handling in the site file: receivers, escalation tiers (督办), deadlines, pushes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from gateway.config.strict import ID_PATTERN, Positive, Strict

Seconds = Positive
ReceiverId = Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]
Language = Literal["zh", "en"]


class ReceiverBase(Strict):
    id: ReceiverId
    language: Language | None = Field(default=None, description="default: alarms.language")
    timeout_s: Seconds = 5.0


class WebhookReceiver(ReceiverBase):
    """A generic HTTP endpoint: POST of a JSON document listing the notices."""

    type: Literal["webhook"]
    url: str
    token_env: str | None = Field(default=None, description="sent as 'Authorization: Bearer <token>'")


class WeComReceiver(ReceiverBase):
    """A WeCom (企业微信) group robot: markdown message to its webhook URL."""

    type: Literal["wecom"]
    url: str | None = Field(default=None, description="the robot's full webhook URL")
    key_env: str | None = Field(default=None, description="or the robot key from the environment")
    base_url: str = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"


class DingTalkReceiver(ReceiverBase):
    """A DingTalk (钉钉) group robot, with its HMAC-SHA256 signed URL when a secret is set."""

    type: Literal["dingtalk"]
    url: str | None = Field(default=None, description="the robot's webhook URL with access_token")
    token_env: str | None = Field(default=None, description="or the access token from the environment")
    secret_env: str | None = Field(default=None, description="the signing secret (SEC...)")
    base_url: str = "https://oapi.dingtalk.com/robot/send"


class EmailReceiver(ReceiverBase):
    """E-mail over SMTP; STARTTLS unless the server is local and ``starttls`` is false."""

    type: Literal["email"]
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    starttls: bool = True
    username: str | None = None
    password_env: str | None = None
    sender: str
    to: list[str] = Field(min_length=1)


class MqttReceiver(ReceiverBase):
    """Notices to the platform over MQTT (QoS 1) on ``<prefix>/notices``."""

    type: Literal["mqtt"]
    broker: str | None = Field(default=None, description="default: the mqtt.url broker")
    topic_prefix: str | None = None


ReceiverConfig = Annotated[
    WebhookReceiver | WeComReceiver | DingTalkReceiver | EmailReceiver | MqttReceiver,
    Field(discriminator="type"),
]


class TierConfig(Strict):
    name: str
    receivers: list[ReceiverId] = Field(min_length=1)


class GradeSeconds(Strict):
    yellow: Seconds = 4 * 3600.0
    orange: Seconds = 3600.0
    red: Seconds = 900.0

    def of(self, grade: int) -> float:
        return (self.yellow, self.orange, self.red)[max(1, min(grade, 3)) - 1]


class FloodConfig(Strict):
    """A flood (EEMUA 191: more than 10 alarms in 10 minutes for one person): pushes become a summary.

    Counted per receiver over the new alarms and grade rises it is told of. The flood ends when
    fewer than ``end_below`` were told in the last ``window_s``; meanwhile one summary at most every
    ``summary_every_s`` (counts by grade, the channels with most notices, the dashboard link)."""

    enabled: bool = True
    alarms: Annotated[int, Field(ge=1)] = 10
    window_s: Seconds = 600.0
    end_below: Annotated[int, Field(ge=1)] = 5
    summary_every_s: Annotated[float, Field(ge=0, le=3600)] = 60.0

    @model_validator(mode="after")
    def _ends_below_its_start(self) -> FloodConfig:
        if self.end_below > self.alarms:
            raise ValueError(f"end_below ({self.end_below}) must not exceed alarms ({self.alarms})")
        return self


class AlarmsConfig(Strict):
    language: Language = "zh"
    dashboard_url: str = Field(default="http://127.0.0.1:8080", description="links in pushes")
    store: str = Field(default="alarms.db", description="SQLite file, relative to the site file")
    reopen_window_s: Annotated[float, Field(ge=0)] = 600.0
    renotify_s: Annotated[float, Field(ge=0)] = 1800.0
    group_window_s: Annotated[float, Field(ge=0, le=300)] = 5.0
    deadlines_s: GradeSeconds = Field(
        default_factory=GradeSeconds, description="time to acknowledge before the next tier is told"
    )
    red_to_all_tiers: bool = True
    notify_cleared: bool = True
    retry_cap_s: Seconds = 300.0
    tiers: list[TierConfig] = Field(default_factory=list)
    receivers: list[ReceiverConfig] = Field(default_factory=list)
    # Shelving an alarm and maintenance (检修) of a device are always for a bounded time.
    max_shelve_s: Seconds = Field(default=24 * 3600.0, description="longest a supervisor may shelve")
    max_maintenance_s: Seconds = Field(default=72 * 3600.0, description="longest maintenance window")
    flood: FloodConfig = Field(default_factory=FloodConfig)
