"""A channel as the site file describes it: unit, physical range, description."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gateway.config.strict import Strict


class ChannelConfig(Strict):
    unit: str = ""
    range: tuple[float, float] | None = Field(
        default=None, description="physical range [low, high]; readings outside are flagged bad"
    )
    description: str = ""
    resolution: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        default=None, description="the smallest step the sensor resolves; the API rounds values to it"
    )
