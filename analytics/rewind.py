"""A channel whose device clock jumped back: after a few readings behind, take the new time line.

Without it, one device stamp too far ahead (or a clock later set back) makes every later, correctly
stamped reading older than the channel's newest one, and all of them would be rejected as out of
order until the clock caught up again. When ``REWIND_AFTER`` consecutive readings of a channel are
behind its newest accepted time yet in order among themselves, the device clearly keeps a new time
line: the channel rewinds to it, from the reading that confirmed it on (counted as ``rewound``).
A stale reading or two (a re-delivery) are still rejected, and any reading that is in order on the
old time line ends the run.

Struct of arrays over channels; the batch is channel-sorted, time-sorted within (as in the engine),
so a channel's stale readings are a prefix of its readings in the batch. Pure: no clock.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from analytics.rounds import occurrence_rank

REWIND_AFTER = 3
REWOUND = "rewound"

B = npt.NDArray[np.bool_]


class ClockRewind:
    """Per channel: how many readings in a row were behind, and the time of the last of them."""

    def __init__(self, n_channels: int, after: int = REWIND_AFTER) -> None:
        self.after = after
        self.behind = np.zeros(n_channels, dtype=np.int64)
        self.behind_last = np.full(n_channels, -np.inf)

    def take(
        self,
        ts: npt.NDArray[np.float64],
        channel: npt.NDArray[np.int32],
        stale: B,
        in_order: B,
    ) -> tuple[B, int]:
        """Which stale readings to accept after all (a rewind), and how many channels rewound.

        ``stale``: older than the channel's newest accepted time; ``in_order``: newer than it.
        """
        take = np.zeros(len(ts), dtype=bool)
        if not stale.any():  # the usual batch: only runs to end, if there are any
            if self.behind.any():
                self._end_runs(channel[in_order])
            return take, 0
        # Ends a run: an in-order reading on the old time line, anywhere in the batch (a batch is
        # taken by time, not by arrival, so its stale readings never rewind such a channel).
        on_time = channel[in_order]
        kept_time = np.zeros(len(self.behind), dtype=bool)
        kept_time[on_time] = True
        # Repeats of a stale time are not "in order among themselves": they neither count nor break.
        repeat = np.zeros(len(ts), dtype=bool)
        repeat[1:] = stale[:-1] & (channel[1:] == channel[:-1]) & (ts[1:] == ts[:-1])
        pos = np.flatnonzero(stale & ~repeat)
        rewound = 0
        if len(pos):
            ch, t = channel[pos], ts[pos]
            first = np.ones(len(pos), dtype=bool)
            first[1:] = ch[1:] != ch[:-1]
            starts = np.flatnonzero(first)
            group_ch = ch[starts]
            # The run goes on from earlier batches only if this batch's first one is newer still.
            goes_on = (self.behind[group_ch] > 0) & (t[starts] > self.behind_last[group_ch])
            base = np.where(goes_on, self.behind[group_ch], 0)
            group = np.cumsum(first) - 1
            run = base[group] + occurrence_rank(ch) + 1
            take[pos] = (run >= self.after) & ~kept_time[ch]
            ends = np.r_[starts[1:], len(pos)] - 1
            done = take[pos[ends]]
            rewound = int(done.sum())
            self.behind[group_ch] = np.where(done, 0, run[ends])
            self.behind_last[group_ch] = np.where(done, -np.inf, t[ends])
        # A channel that kept to its old time line (and did not just rewind) starts over.
        self._end_runs(on_time)
        return take, rewound

    def _end_runs(self, channels: npt.NDArray[np.int32]) -> None:
        self.behind[channels] = 0
        self.behind_last[channels] = -np.inf
