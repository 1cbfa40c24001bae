"""Weather early warning in the site file: where the site is, the action table, more warning codes
and the site's own signals.

The site's location decides whether an official warning's area covers it (``drivers.cap.area``);
without one every warning is taken to apply. The action table's defaults, with their sources, are in
``gateway.config.weather_actions``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gateway.config.strict import ID_PATTERN, Strict

Geocode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]


class SiteLocation(Strict):
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    geocodes: list[Geocode] = Field(
        default_factory=list,
        description="area codes the site lies in, every level (e.g. GB/T 2260 district, city, province)",
    )


Event = Literal["gale", "rainstorm", "typhoon", "thunder", "snow", "heat", "thunderstorm_gale"]
Colour = Literal["blue", "yellow", "orange", "red"]
ActionId = Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]


class SiteAction(Strict):
    """One thing the site does under a warning, who is told, and whether it raises a site alarm."""

    id: ActionId
    zh: Annotated[str, Field(min_length=1, max_length=500)]
    en: Annotated[str, Field(max_length=500)] = ""
    tell: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, description="who is told (roles on the site), shown with the action"
    )
    alarm: bool = Field(
        default=False, description="raises a site alarm, pushed through the alarm tiers and receivers"
    )


class ActionRow(Strict):
    """The actions for one event from one colour up (a red warning also gets the blue row's)."""

    event: Event
    colour: Colour = Field(default="blue", description="from this colour up")
    actions: list[SiteAction] = Field(min_length=1)
    source: str = Field(default="", description="where the rule comes from (standard, local order)")


class GaleSignalConfig(Strict):
    """The CMA gale signal "already observed and continuing" from the site's anemometers."""

    channels: list[str] = Field(min_length=1, description="anemometer wind-speed channels (m/s)")
    mean: Literal["2min", "10min"] = Field(default="10min", description="the mean wind's period")
    confirm_s: Annotated[float, Field(ge=0, le=7200, allow_inf_nan=False)] = Field(
        default=300.0, description="a colour's level held this long before it is issued (continuing)"
    )
    end_after_s: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)] = Field(
        default=1800.0, description="below a colour's level this long before it is lowered or ended"
    )


class RainSignalConfig(Strict):
    """The CMA rainstorm signal from a rain gauge: 50 mm in 12 h blue … 100 mm in 3 h red."""

    channel: str = Field(description="rain gauge channel")
    mode: Literal["increment", "accumulated"] = Field(
        default="increment", description="each reading is the rain since the last (tips), or a running total"
    )
    mm_per_unit: Annotated[float, Field(gt=0, allow_inf_nan=False)] = Field(
        default=1.0, description="mm of rain per unit of the reading (e.g. 0.2 for a 0.2 mm tipping bucket)"
    )
    end_after_s: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)] = Field(
        default=3600.0, description="below a colour's amount this long before it is lowered or ended"
    )


class LocalSignalsConfig(Strict):
    gale: GaleSignalConfig | None = None
    rain: RainSignalConfig | None = None


class FasterPolling(Strict):
    """While a warning of ``event`` (official or the site's own) of ``colour`` or above is in force,
    the named Modbus devices are polled every ``poll_s``; afterwards at their own period again."""

    event: Event
    colour: Colour = "blue"
    devices: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        min_length=1, description="Modbus device ids or shell patterns (pit.*)"
    )
    poll_s: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)]


class WeatherConfig(Strict):
    actions: list[ActionRow] | None = Field(
        default=None, description="the site's action table; default: the cited one (docs/weather.md)"
    )
    codes: dict[Annotated[str, Field(min_length=2, max_length=32)], Event] = Field(
        default_factory=dict, description="more warning type codes (code prefix -> event) for other feeds"
    )
    default_life_s: Annotated[float, Field(gt=0, le=14 * 86400, allow_inf_nan=False)] = Field(
        default=86400.0, description="a warning without expires ends this long after it was sent"
    )
    local: LocalSignalsConfig = Field(default_factory=LocalSignalsConfig)
    faster_polling: list[FasterPolling] = Field(
        default_factory=list, description="devices polled faster while a warning is in force (rainstorm: pit)"
    )
    cap_topic: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^#+]+$")] | None = Field(
        default=None,
        description="an MQTT topic on the mqtt.url broker the platform publishes CAP documents on "
        "(e.g. smartsite/<site>/cap); none: CAP over HTTP only",
    )
