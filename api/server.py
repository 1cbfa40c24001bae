"""Serve the API with uvicorn inside the runtime's event loop, on a socket bound beforehand."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from api.connections import GuardedH11Protocol

SHUTDOWN_TIMEOUT_S = 2.0
# Connections at once (the dashboard's streams included) before new ones get 503: a handful of
# supervisors and screens need tens, and the gateway's file limit (1,024) must never be reached.
MAX_CONNECTIONS = 200
KEEP_ALIVE_S = 5
MAX_HEADER_BYTES = 16 * 1024


class _Server(uvicorn.Server):
    # The gateway owns SIGINT/SIGTERM and shuts uvicorn down itself.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket first, so a busy port is a clear error, not a server exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class ApiServer:
    def __init__(self, app: FastAPI, sock: socket.socket, max_connections: int = MAX_CONNECTIONS) -> None:
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
            http=GuardedH11Protocol,
            limit_concurrency=max_connections,
            timeout_keep_alive=KEEP_ALIVE_S,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        )
        self._server = _Server(config)
        self._sock = sock
        host, port = sock.getsockname()[:2]
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"

    async def run(self) -> None:
        """Serve until cancelled; then close connections within a couple of seconds."""
        self._server.should_exit = False
        task = asyncio.ensure_future(self._server.serve(sockets=[self._sock]))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            self._server.should_exit = True
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, SHUTDOWN_TIMEOUT_S)
            raise

    @property
    def started(self) -> bool:
        return bool(self._server.started)
