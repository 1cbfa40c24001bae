"""Readings as they travel: a struct of arrays, never one Python object per reading, so the
analytics core can take them as they are."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class ReadingBatch:
    """Readings of any channels, in arrays of equal length.

    ``ts`` is the acquisition time in epoch seconds (UTC), taken when the value was read on the wire
    or given by the device, never when it was converted. ``channel`` holds column numbers of the
    site's channel index.
    """

    ts: npt.NDArray[np.float64]
    channel: npt.NDArray[np.int32]
    value: npt.NDArray[np.float64]
    quality: npt.NDArray[np.uint8]

    def __post_init__(self) -> None:
        n = len(self.ts)
        if not (len(self.channel) == len(self.value) == len(self.quality) == n):
            raise ValueError("ReadingBatch arrays must have equal length")

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def empty(cls) -> ReadingBatch:
        return cls.from_lists([], [], [], [])

    @classmethod
    def from_lists(
        cls,
        ts: Sequence[float],
        channel: Sequence[int],
        value: Sequence[float],
        quality: Sequence[int],
    ) -> ReadingBatch:
        return cls(
            ts=np.asarray(ts, dtype=np.float64),
            channel=np.asarray(channel, dtype=np.int32),
            value=np.asarray(value, dtype=np.float64),
            quality=np.asarray(quality, dtype=np.uint8),
        )

    @classmethod
    def concat(cls, batches: Sequence[ReadingBatch]) -> ReadingBatch:
        if not batches:
            return cls.empty()
        if len(batches) == 1:
            return batches[0]
        return cls(
            ts=np.concatenate([b.ts for b in batches]),
            channel=np.concatenate([b.channel for b in batches]),
            value=np.concatenate([b.value for b in batches]),
            quality=np.concatenate([b.quality for b in batches]),
        )


@dataclass(frozen=True, slots=True)
class ChannelMeta:
    """What a destination needs to name a channel: its id, device, quantity and unit."""

    id: str
    device: str
    quantity: str
    unit: str = ""


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class SourceBatch:
    """What a source yields: readings, and the acknowledgement the source owes for them.

    ``ack`` is called once the readings are stored (MQTT acknowledges the message only then, so
    the broker keeps what a crash lost); a source with nothing to acknowledge leaves the default.
    """

    readings: ReadingBatch
    ack: Callable[[], None] = _nothing
    owed: int = 0  # messages the ack acknowledges (the broker's in-flight window counts them)
