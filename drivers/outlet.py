"""What every way out shares: a sink, a forwarding destination, a notification channel."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self


class Outlet(Protocol):
    """A named far side, entered before it is first used and never used after exit; ``name`` is
    what errors and logs call it."""

    name: str

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
