"""HTTP connections that cannot be held open by a client that sends nothing.

uvicorn times out a keep-alive connection between requests, but not one that never completes its
request: a client that connects and stays silent, or sends headers or a body a byte at a time, holds a
file descriptor for ever (500 such clients took the gateway from 17 to 517 open files). This protocol
closes a connection when the client has sent nothing for ``client_timeout_s`` while the server waits
on it (before the request line, inside the headers, inside the body). Once a request is complete the
response may take as long as it likes: server-sent event streams stay open.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

CLIENT_TIMEOUT_S = 10.0


# Open connections by client address (the ASGI scope's ``client``), so a response that must give up
# on a client which stopped reading (a live stream, api.sse) can cut its connection.
_open: dict[tuple[str, int], asyncio.Transport] = {}


def abort_connection(client: tuple[str, int] | None) -> bool:
    """Cut a client's connection now, discarding what it did not read; False if unknown here."""
    transport = _open.get(tuple(client)) if client else None  # type: ignore[arg-type]
    if transport is None:
        return False
    transport.abort()  # close() would wait for the unread bytes to flush: for ever
    return True


class GuardedH11Protocol(H11Protocol):
    client_timeout_s = CLIENT_TIMEOUT_S
    closed_idle = 0  # connections closed for silence, over the process (for health and tests)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_heard = 0.0
        self._guard: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.client:
            _open[tuple(self.client)] = transport  # type: ignore[index]
        self._last_heard = self.loop.time()
        self._guard = self.loop.call_later(self.client_timeout_s, self._check_silence)

    def data_received(self, data: bytes) -> None:
        self._last_heard = self.loop.time()
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client and _open.get(tuple(self.client)) is self.transport:  # type: ignore[arg-type]
            del _open[tuple(self.client)]  # type: ignore[arg-type]
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None
        super().connection_lost(exc)

    def _check_silence(self) -> None:
        self._guard = None
        if self.transport.is_closing():
            return
        waiting_on_client = self.conn.their_state in (h11.IDLE, h11.SEND_BODY)
        silent_for = self.loop.time() - self._last_heard
        if waiting_on_client and silent_for >= self.client_timeout_s:
            type(self).closed_idle += 1
            self.transport.close()
            return
        wait = self.client_timeout_s - silent_for if waiting_on_client else self.client_timeout_s
        self._guard = self.loop.call_later(max(wait, 0.05), self._check_silence)
