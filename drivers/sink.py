"""The sink contract every output follows."""

from __future__ import annotations

from typing import Protocol

from drivers.outlet import Outlet
from gateway.vocab import SinkBatch


class Sink(Outlet, Protocol):
    """An output. Enter it before the first ``write``; ``write`` is never called after exit.

    ``write`` raises RetryableSinkError to have the same batch offered again later, and
    SinkRejectedError when the far side refused it for good (it is then counted and dropped).
    """

    async def write(self, batch: SinkBatch) -> None: ...
