"""The source contract every input follows (beside ``Sink`` and ``Destination``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from gateway.vocab import SourceBatch


class Source(Protocol):
    """An input: ``batches()`` yields readings as they come, each with the acknowledgement the
    source owes for them, to be called once they are stored. It reconnects by itself and never
    ends; cancelling the iteration stops it."""

    name: str

    def batches(self) -> AsyncIterator[SourceBatch]: ...
