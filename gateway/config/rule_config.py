"""Alarm rules in the site file, one model per kind, discriminated on ``type``.

Every rule has an ``id`` (the ``rule`` field of its alarm events) and the ``channels`` it judges
(ids or shell patterns). Defaults follow DOMAIN.md; presets (``preset: NAME``) fill them from the
standards, see ``gateway.config.presets``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from gateway.config.strict import ID_PATTERN, Finite, NonNegative, Positive, Strict

RuleId = Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]
Grade = Literal[1, 2, 3]

PER_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
Per = Literal["second", "minute", "hour", "day"]


class GradedLimits(Strict):
    """Limits of the three warning grades; any may be left out."""

    yellow: Finite | None = None
    orange: Finite | None = None
    red: Finite | None = None

    def as_tuple(self) -> tuple[float | None, float | None, float | None]:
        return (self.yellow, self.orange, self.red)


class Debounce(Strict):
    """Raise or escalate only when k of the last n readings reach the grade, or after a hold time."""

    count: Annotated[int, Field(ge=1, le=1000)] = 1
    of: Annotated[int, Field(ge=1, le=1000)] = 1
    hold_s: NonNegative = 0.0


# Minimum dwell by rule kind (s of data time; ``min_hold_s`` overrides): 60 s for what is judged
# on fast readings, so that no alarm goes in, out and in again within ISA-18.2's chattering window;
# longer for trends, whose judged quantity moves slowly and whose alarms should not flicker.
MIN_HOLD_S = {
    "threshold": 60.0,
    "cumulative": 60.0,
    "wind": 60.0,
    "crane": 60.0,
    "combined": 60.0,
    "quality": 60.0,
    "rate": 600.0,
    "acceleration": 600.0,
    "time_to_limit": 600.0,
    "failure_forecast": 600.0,
}


class RuleBase(Strict):
    id: RuleId
    channels: list[str] = Field(min_length=1, description="channel ids or shell-style patterns")
    description: str = ""
    preset: str | None = Field(default=None, description="name of the preset that filled defaults")
    min_hold_s: NonNegative | None = Field(
        default=None,
        description="a grade, once reached, is held this long (s of data time) before it may fall; "
        "default by kind (MIN_HOLD_S), 0 = no dwell",
    )

    def hold_s(self) -> float:
        """The rule's minimum dwell: its own ``min_hold_s`` or its kind's default."""
        if self.min_hold_s is not None:
            return float(self.min_hold_s)
        return MIN_HOLD_S.get(str(getattr(self, "type", "")), 0.0)


class ThresholdRuleConfig(RuleBase):
    """Graded limits on the value, upward and/or downward, with hysteresis and debounce."""

    type: Literal["threshold"]
    upper: GradedLimits | None = None
    lower: GradedLimits | None = None
    hysteresis: NonNegative = 0.0
    debounce: Debounce | None = None


class CumulativeRuleConfig(RuleBase):
    """Graded limits on the change since a baseline (the reading at installation)."""

    type: Literal["cumulative"]
    upper: GradedLimits | None = None
    lower: GradedLimits | None = None
    hysteresis: NonNegative = 0.0
    debounce: Debounce | None = None
    baseline: Literal["first"] | Finite | dict[str, Finite] = Field(
        default="first", description="'first' good reading, one number, or a number per channel"
    )


class RateRuleConfig(RuleBase):
    """Graded limits on the robust rate of change over a trailing window."""

    type: Literal["rate"]
    window_s: Positive
    per: Per = "day"
    upper: GradedLimits | None = None
    lower: GradedLimits | None = None
    hysteresis: NonNegative = 0.0
    min_samples: Annotated[int, Field(ge=3)] = 5
    hampel_k: Positive = 3.0
    sustained_share: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=None, description="GB 50497: alarm when the rate exceeds this share of its limit ..."
    )
    sustained_days: Annotated[int, Field(ge=1, le=30)] = 3
    sustained_grade: Grade = 2


class AccelerationRuleConfig(RuleBase):
    """The rate keeps growing over successive windows (not converging)."""

    type: Literal["acceleration"]
    window_s: Positive
    per: Per = "day"
    windows: Annotated[int, Field(ge=2, le=20)] = 3
    min_rate: NonNegative = 0.0
    grade: Grade = 2


class TimeToLimitRuleConfig(RuleBase):
    """The fitted trend will reach the control value within a horizon."""

    type: Literal["time_to_limit"]
    window_s: Positive
    limit: Finite
    horizons_s: GradedLimits = Field(description="grade reached when the crossing is nearer than this")
    min_samples: Annotated[int, Field(ge=3)] = 5
    hampel_k: Positive = 3.0


class FailureForecastRuleConfig(RuleBase):
    """Inverse-velocity forecast of the failure time (Fukuzono 1985)."""

    type: Literal["failure_forecast"]
    window_s: Positive
    velocity_window_s: Positive
    horizons_s: GradedLimits
    min_r2: Annotated[float, Field(gt=0, le=1)] = 0.9
    min_samples: Annotated[int, Field(ge=4)] = 8


class WindRuleConfig(RuleBase):
    """Wind means, gust and level (GB/T 28591) from an anemometer; stop-lifting and working limit."""

    type: Literal["wind"]
    mean: Literal["2min", "10min"] = "2min"
    watch_level: Annotated[int, Field(ge=0, le=17)] = 5
    stop_lifting_level: Annotated[int, Field(ge=0, le=17)] = 6
    working_limit: Positive = 20.0
    hysteresis: NonNegative = 0.5


class CycleConfig(Strict):
    """When a lift starts and ends (GB/T 28264 records every working cycle)."""

    start_t: Positive = Field(default=0.2, description="hook load at lift-off, t (above the empty hook)")
    stop_t: NonNegative = Field(default=0.1, description="hook load at set-down, t (below start_t)")
    min_duration_s: NonNegative = Field(default=5.0, description="shorter excursions are bumps")
    max_gap_s: Positive = Field(default=30.0, description="a longer gap in load readings ends a lift")

    @model_validator(mode="after")
    def _stop_below_start(self) -> CycleConfig:
        if not self.stop_t < self.start_t:
            raise ValueError("stop_t must be below start_t")
        return self


class CraneRuleConfig(RuleBase):
    """Load and moment ratio from a crane's load chart; ``channels`` names the load channel(s)."""

    type: Literal["crane"]
    radius: str = Field(description="radius channel of the same crane")
    # Positive and falling rated loads are meaning checks (meaning_site_rules), told in words.
    chart: list[tuple[Finite, Finite]] = Field(min_length=2, description="[[radius m, rated t], ...]")
    ratios: GradedLimits = GradedLimits(yellow=0.9, orange=1.0, red=1.1)
    hysteresis: NonNegative = 0.02
    cycles: CycleConfig = Field(default_factory=CycleConfig, description="working-cycle detection")


class CombinedCondition(Strict):
    channel: str
    above: Finite | None = None
    below: Finite | None = None


class CombinedRuleConfig(RuleBase):
    """All conditions hold at once (e.g. lifting while the wind is over the lifting limit)."""

    type: Literal["combined"]
    channels: list[str] = Field(default_factory=list, description="not used: all_of names the channels")
    all_of: list[CombinedCondition] = Field(min_length=1)
    grade: Grade = 2
    max_age_s: Positive = 60.0


class QualityRuleConfig(RuleBase):
    """Data-quality alarms: silent, stuck, out of range, spike. Each check can be switched off."""

    type: Literal["quality"]
    silent_s: Positive | None = 600.0
    stuck_window_s: Positive | None = None
    stuck_min_samples: Annotated[int, Field(ge=3)] = 10
    stuck_tolerance: NonNegative = 0.0
    out_of_range: bool = True
    spike_k: Positive | None = 6.0
    spike_window: Annotated[int, Field(ge=5, le=1000)] = 15
    spike_min_jump: NonNegative = 0.0
    grade: Grade = 1


RuleConfig = Annotated[
    ThresholdRuleConfig
    | CumulativeRuleConfig
    | RateRuleConfig
    | AccelerationRuleConfig
    | TimeToLimitRuleConfig
    | FailureForecastRuleConfig
    | WindRuleConfig
    | CraneRuleConfig
    | CombinedRuleConfig
    | QualityRuleConfig,
    Field(discriminator="type"),
]
