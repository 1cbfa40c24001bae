"""The sink contract every output follows."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from gateway.vocab import SinkBatch


class Sink(Protocol):
    """An output. Enter it before the first ``write``; ``write`` is never called after exit.

    ``write`` raises RetryableSinkError to have the same batch offered again later, and
    SinkRejectedError when the far side refused it for good (it is then counted and dropped).
    """

    name: str

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def write(self, batch: SinkBatch) -> None: ...
