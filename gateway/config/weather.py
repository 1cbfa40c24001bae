"""Weather early warning in the site file: where the site is, and the warning-code additions.

The site's location decides whether an official warning's area covers it (``drivers.cap.area``);
without one every warning is taken to apply.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gateway.config.strict import Strict

Geocode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]


class SiteLocation(Strict):
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    geocodes: list[Geocode] = Field(
        default_factory=list,
        description="area codes the site lies in, every level (e.g. GB/T 2260 district, city, province)",
    )
