"""Column numbers for channel ids: every per-channel quantity is one array indexed by them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

UNKNOWN = -1


class ChannelIndex:
    """An immutable, ordered mapping of channel ids to columns 0..N-1."""

    def __init__(self, channel_ids: Iterable[str]) -> None:
        self._ids: tuple[str, ...] = tuple(channel_ids)
        self._columns = {cid: col for col, cid in enumerate(self._ids)}
        if len(self._columns) != len(self._ids):
            raise ValueError("duplicate channel id in ChannelIndex")

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, channel_id: object) -> bool:
        return channel_id in self._columns

    @property
    def ids(self) -> tuple[str, ...]:
        return self._ids

    def column(self, channel_id: str) -> int:
        """The column of ``channel_id``, or ``UNKNOWN`` (-1)."""
        return self._columns.get(channel_id, UNKNOWN)

    def columns(self, channel_ids: Sequence[str]) -> npt.NDArray[np.int32]:
        get = self._columns.get
        return np.fromiter((get(c, UNKNOWN) for c in channel_ids), dtype=np.int32, count=len(channel_ids))

    def as_dict(self) -> dict[str, int]:
        return dict(self._columns)
