"""Per-channel state as a struct of arrays: one array per quantity, indexed by column."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


class ChannelState:
    """What the core remembers of each channel between batches."""

    def __init__(self, range_low: npt.NDArray[np.float64], range_high: npt.NDArray[np.float64]) -> None:
        n = len(range_low)
        self.range_low = np.asarray(range_low, dtype=np.float64)
        self.range_high = np.asarray(range_high, dtype=np.float64)
        if self.range_low.shape != (n,) or self.range_high.shape != (n,):
            raise ValueError("range_low and range_high must be 1-D arrays of the same length")
        self.last_ts = np.full(n, -np.inf)  # newest accepted acquisition time
        self.last_value = np.full(n, np.nan)
        self.last_quality = np.zeros(n, dtype=np.uint8)
        self.last_good_ts = np.full(n, np.nan)  # for the silent-sensor rule
        self.readings = np.zeros(n, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.last_ts)
