"""Quality flags of one reading, the one table every room reads."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


class Quality:
    """Quality flags of one reading (a uint8 bit set).

    Values below ``BAD`` are usable: the analytics judge them. ``TIME_ESTIMATED`` marks a good value
    whose timestamp is the arrival time because the device sent none.
    """

    GOOD = 0x00
    TIME_ESTIMATED = 0x01
    BAD = 0x10  # any flag at or above this bit makes the value unusable
    BAD_COMM = 0x10  # timeout, CRC error, device gone
    BAD_VALUE = 0x20  # NaN, inf, non-numeric, sentinel "no value"
    BAD_RANGE = 0x40  # outside the channel's physical range

    @staticmethod
    def is_good(quality: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
        return quality < Quality.BAD

    @staticmethod
    def describe(flags: int) -> str:
        names = [
            name
            for name, bit in (
                ("time_estimated", Quality.TIME_ESTIMATED),
                ("bad_comm", Quality.BAD_COMM),
                ("bad_value", Quality.BAD_VALUE),
                ("bad_range", Quality.BAD_RANGE),
            )
            if flags & bit
        ]
        return ",".join(names) or "good"
