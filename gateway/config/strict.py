"""What every config model shares: unknown keys refused, values frozen; the id patterns and number
types. Its own module so the config modules can all import it without import loops."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

ID_PATTERN = r"^[A-Za-z0-9_-]+$"
# A device id may hold dots (e.g. "pit.P3"): it is declared, and the last segment of a channel id is
# always the quantity, so "pit.P3.disp_h" stays unambiguous.
DEVICE_ID_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
# A limit of NaN or infinity could never fire (or never clear): refuse it.
Finite = Annotated[float, Field(allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Strict(BaseModel):
    """A typo is an error instead of a silently ignored setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)
