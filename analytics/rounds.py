"""Split a batch into rounds so each round holds at most one reading per channel.

Rules with memory (hysteresis, debounce, windows) must see a channel's readings in time order.
Round k holds every channel's k-th reading of the batch, so a round is evaluated as one vector
operation over channels, and rounds are evaluated in order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from analytics.table import Block
from gateway.vocab.quality_bits import Quality


def time_then_channel_order(
    ts: npt.NDArray[np.float64], channel: npt.NDArray[np.int32]
) -> npt.NDArray[np.intp]:
    """Indices that sort readings by channel, and by time within a channel (stable)."""
    if len(ts) > 1 and bool(np.all(ts[1:] >= ts[:-1])):
        # Already in time order (a recording, a batch as it came): a stable sort by channel alone
        # gives the same order, ties in time kept in input order as ``lexsort`` keeps them.
        return np.argsort(_narrow(channel), kind="stable")
    return np.lexsort((ts, channel))


def _narrow(channel: npt.NDArray[np.int32]) -> npt.NDArray[np.integer]:
    """The channels as 16-bit numbers when they fit: numpy's stable sort of those is a radix sort
    (on 200,000 readings of 100 channels in no particular order about 0.5 ms against 8 ms for the
    32-bit sort; as fast as that one on a file that cycles through its channels). Same order."""
    if len(channel) > 256 and int(channel.min()) >= 0 and int(channel.max()) <= np.iinfo(np.uint16).max:
        return channel.astype(np.uint16)
    return channel


def occurrence_rank(sorted_channel: npt.NDArray[np.int32]) -> npt.NDArray[np.intp]:
    """For channel-sorted readings, how many earlier readings of the same channel precede each."""
    n = len(sorted_channel)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    starts = np.ones(n, dtype=bool)
    starts[1:] = sorted_channel[1:] != sorted_channel[:-1]
    start_pos = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return np.arange(n) - start_pos


def round_slices(rank: npt.NDArray[np.intp]) -> list[npt.NDArray[np.intp]]:
    """Positions (into the channel-sorted arrays) of each round, round 0 first."""
    if len(rank) == 0:
        return []
    order = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[order], np.arange(1, int(rank.max()) + 1))
    return np.split(order, bounds)


def to_block(
    ts: npt.NDArray[np.float64],
    channel: npt.NDArray[np.int32],
    value: npt.NDArray[np.float64],
    quality: npt.NDArray[np.uint8],
    n_channels: int,
    bad: int = Quality.BAD,
    presorted: bool = False,
    rank: npt.NDArray[np.intp] | None = None,
) -> Block:
    """Lay readings out as a Block: column c holds channel c's readings in time order.

    The inputs need not be sorted. Readings are assumed valid (known channel, in order); the
    engine filters before calling this. ``presorted`` inputs (by channel, then time) may come with
    their ``occurrence_rank``.
    """
    if not presorted:
        order = np.lexsort((ts, channel))
        ts, channel, value, quality = ts[order], channel[order], value[order], quality[order]
        rank = None
    if rank is None:
        rank = occurrence_rank(channel)
    rows = int(rank.max()) + 1 if len(rank) else 0
    shape = (rows, n_channels)
    block = Block(
        ts=np.full(shape, np.nan),
        value=np.full(shape, np.nan),
        present=np.zeros(shape, dtype=bool),
        usable=np.zeros(shape, dtype=bool),
        quality=np.zeros(shape, dtype=np.uint8),
    )
    # One flat cell number per reading, scattered into each (contiguous) grid.
    cell = rank * n_channels + channel
    block.ts.reshape(-1)[cell] = ts
    block.value.reshape(-1)[cell] = value
    block.present.reshape(-1)[cell] = True
    block.quality.reshape(-1)[cell] = quality
    block.usable.reshape(-1)[cell] = quality < bad
    return block
