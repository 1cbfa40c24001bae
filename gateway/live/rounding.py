"""Values as precise as the sensor: each channel's reading rounded to its ``resolution``.

A sensor that resolves 0.1 mm reports 12.300000001 after scaling; showing that digit is showing
noise. The number of decimals comes from the resolution as written (0.25 → 2, 0.1 → 1, 5 → 0),
so the rounded value prints without float residue.
"""

from __future__ import annotations

import math
from decimal import Decimal


def decimals_of(resolution: float) -> int:
    exponent = Decimal(repr(resolution)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class Rounding:
    """Rounding for every channel of a site, by channel id or column number."""

    def __init__(self, resolutions: dict[str, float | None]) -> None:
        self._by_id = {cid: (r, decimals_of(r)) for cid, r in resolutions.items() if r}
        self._by_column = [self._by_id.get(cid) for cid in resolutions]

    def value(self, channel: str, value: float | None) -> float | None:
        return _round(value, self._by_id.get(channel))

    def column(self, column: int, value: float | None) -> float | None:
        return _round(value, self._by_column[column] if 0 <= column < len(self._by_column) else None)


def _round(value: float | None, rule: tuple[float, int] | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    if rule is None:
        return value
    step, decimals = rule
    return round(round(value / step) * step, decimals)
