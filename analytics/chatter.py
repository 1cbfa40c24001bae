"""Chattering (ISA-18.2 / EEMUA 191): an alarm that changes grade 3 or more times within 60 s.

It is the back and forth that makes an alarm chatter: 3 changes within 60 s count when they go
both ways (in, out, in; out and in again and up). A plain escalation (yellow, orange, red within a
minute, as a crane overload rises) or a release step by step is not chattering.

``chattering`` marks, in a whole record of grade changes, each change that is at least the third
within the window for its key (a (channel, rule) binding); ``ChatterCounter`` does the same as the
changes stream out of the engine, one array per quantity over bindings, and counts episodes: a
binding starts a chattering episode with its first such change after one that was not.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from analytics.table import F64

CHATTER_WINDOW_S = 60.0
CHATTER_CHANGES = 3

I64 = npt.NDArray[np.int64]


def chattering(
    ts: F64,
    key: npt.NDArray[np.integer],
    rising: npt.NDArray[np.bool_],
    window_s: float = CHATTER_WINDOW_S,
    changes: int = CHATTER_CHANGES,
) -> npt.NDArray[np.bool_]:
    """Per change: it is the ``changes``-th (or later) change of its key within ``window_s`` (the
    first and the last of them at most ``window_s`` apart), and those changes went both ways
    (``rising``: the change raised the grade). Input in any order."""
    n = len(ts)
    out = np.zeros(n, dtype=bool)
    back = changes - 1
    if n <= back:
        return out
    order = np.lexsort((ts, key))
    k, t = np.asarray(key)[order], np.asarray(ts, dtype=np.float64)[order]
    ups = np.r_[0, np.cumsum(np.asarray(rising, dtype=np.int64)[order])]
    rises = ups[changes:] - ups[:-changes]  # rises among each run of ``changes`` changes
    with np.errstate(invalid="ignore"):  # carried "no change yet" times are -inf
        hit = (k[back:] == k[:-back]) & (t[back:] - t[:-back] <= window_s)
    hit &= (rises > 0) & (rises < changes)
    out[order[back:]] = hit
    return out


def episode_starts(
    hit: npt.NDArray[np.bool_], key: npt.NDArray[np.integer], ts: F64
) -> npt.NDArray[np.bool_]:
    """Chattering changes that start an episode: the key's previous change did not chatter."""
    order = np.lexsort((ts, key))
    h, k = hit[order], np.asarray(key)[order]
    prev_hit = np.r_[False, h[:-1]] & np.r_[False, k[1:] == k[:-1]]
    out = np.zeros(len(hit), dtype=bool)
    out[order] = h & ~prev_hit
    return out


class ChatterCounter:
    """Streaming chattering counts per binding (the same verdicts as ``chattering`` on the whole
    record, whatever the cut): the last changes' times are carried from one batch to the next."""

    def __init__(self, bindings: int, window_s: float = CHATTER_WINDOW_S, changes: int = CHATTER_CHANGES):
        if changes < 2:
            raise ValueError("chattering needs at least 2 changes")
        self.window_s = window_s
        self.changes = changes
        self._recent = np.full((bindings, changes - 1), -np.inf)  # oldest first
        self._recent_rising = np.zeros((bindings, changes - 1), dtype=bool)
        self._chattering = np.zeros(bindings, dtype=bool)  # its last change chattered
        self.episodes: I64 = np.zeros(bindings, dtype=np.int64)
        self.chattering_changes: I64 = np.zeros(bindings, dtype=np.int64)
        self.last_ts = np.full(bindings, np.nan)  # time of the last chattering change

    def observe(
        self, ts: F64, binding: npt.NDArray[np.integer], rising: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.bool_]:
        """Count the changes (ts, binding, raised the grade); returns which of them chatter."""
        if not len(ts):
            return np.zeros(0, dtype=bool)
        b = np.asarray(binding, dtype=np.int64)
        up = np.asarray(rising, dtype=bool)
        rows = np.unique(b)
        back = self.changes - 1
        carried_b = np.repeat(rows, back)
        carried_t = self._recent[rows].reshape(-1)
        carried_up = self._recent_rising[rows].reshape(-1)
        all_t = np.concatenate([carried_t, np.asarray(ts, dtype=np.float64)])
        all_b = np.concatenate([carried_b, b])
        all_up = np.concatenate([carried_up, up])
        hit = chattering(all_t, all_b, all_up, self.window_s, self.changes)[len(carried_t) :]
        # Episodes: a chattering change after one that did not (or after the carried state).
        order = np.lexsort((ts, b))
        h, s_b, s_t = hit[order], b[order], np.asarray(ts, dtype=np.float64)[order]
        first = np.r_[True, s_b[1:] != s_b[:-1]]
        prev = np.where(first, self._chattering[s_b], np.r_[False, h[:-1]])
        starts = h & ~prev
        np.add.at(self.episodes, s_b, starts.astype(np.int64))
        np.add.at(self.chattering_changes, s_b, h.astype(np.int64))
        last = np.r_[s_b[1:] != s_b[:-1], True]
        self._chattering[s_b[last]] = h[last]
        chat = np.flatnonzero(h)
        self.last_ts[s_b[chat]] = s_t[chat]  # sorted by time within a binding: the newest wins
        # Keep the newest (changes - 1) times of each binding.
        merged_t = np.concatenate([carried_t, s_t])
        merged_b = np.concatenate([carried_b, s_b])
        merged_up = np.concatenate([carried_up, up[order]])
        o = np.lexsort((merged_t, merged_b))
        mt, mb = merged_t[o], merged_b[o]
        tail_end = np.r_[mb[1:] != mb[:-1], True]
        ends = np.flatnonzero(tail_end)
        idx = ends[:, None] - np.arange(back)[::-1][None, :]  # (rows, back), oldest first
        self._recent[mb[ends]] = mt[idx]  # every row has at least ``back`` entries (carried ones)
        self._recent_rising[mb[ends]] = merged_up[o][idx]
        return hit

    @property
    def chattering_bindings(self) -> I64:
        """Bindings that chattered at least once."""
        return np.flatnonzero(self.episodes > 0)
