"""A channel as the site file describes it: unit, physical range, description."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ChannelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    unit: str = ""
    range: tuple[float, float] | None = Field(
        default=None, description="physical range [low, high]; readings outside are flagged bad"
    )
    description: str = ""
