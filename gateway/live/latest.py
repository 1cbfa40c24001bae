"""The newest reading and the newest good reading of every channel, as struct of arrays.

The analytics keep the last reading judged, good or bad; a device whose sensor just failed still
has a last *good* value a supervisor wants to see, and when it was.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gateway.vocab import Quality, ReadingBatch


def newest_per_channel(channel: npt.NDArray[np.int32], ts: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """Indices of the newest reading of each channel present in a batch."""
    order = np.lexsort((ts, channel))
    sorted_channels = channel[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = sorted_channels[1:] != sorted_channels[:-1]
    return order[last]


class LatestReadings:
    def __init__(self, channels: int) -> None:
        self.ts = np.full(channels, -np.inf)
        self.quality = np.zeros(channels, np.uint8)
        self.good_ts = np.full(channels, -np.inf)
        self.good_value = np.full(channels, np.nan)

    def update(self, batch: ReadingBatch) -> None:
        if not len(batch):
            return
        pick = newest_per_channel(batch.channel, batch.ts)
        cols, ts = batch.channel[pick], batch.ts[pick]
        newer = ts >= self.ts[cols]
        self.ts[cols[newer]] = ts[newer]
        self.quality[cols[newer]] = batch.quality[pick][newer]
        good = Quality.is_good(batch.quality)
        if not good.any():
            return
        gpick = np.flatnonzero(good)[newest_per_channel(batch.channel[good], batch.ts[good])]
        gcols, gts = batch.channel[gpick], batch.ts[gpick]
        gnewer = gts >= self.good_ts[gcols]
        self.good_ts[gcols[gnewer]] = gts[gnewer]
        self.good_value[gcols[gnewer]] = batch.value[gpick][gnewer]
