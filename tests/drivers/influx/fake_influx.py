"""A scriptable stand-in for InfluxDB's ``/api/v2/write`` on a free loopback port (aiohttp.web).

It keeps every request as it came over the wire (the body is not decompressed for us, so a test
sees that it really was gzip) and answers from a script of ``Answer``s, then 204.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from tests.support import free_port


@dataclass(frozen=True)
class Answer:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes

    @property
    def gzipped(self) -> bool:
        return self.raw[:2] == b"\x1f\x8b"

    @property
    def lines(self) -> list[str]:
        body = gzip.decompress(self.raw) if self.gzipped else self.raw
        return body.decode().split("\n")


class FakeInflux:
    """``answers`` are used in order, one per request; then ``max_lines`` decides (413 above it), else 204.

    ``hang`` makes it never answer (for timeouts). ``accepted`` holds the lines of 2xx answers.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.port = free_port()
        self.ssl_context = ssl_context
        self.answers: deque[Answer] = deque()
        self.max_lines: int | None = None
        self.hang = False
        self.received: list[Received] = []
        self.accepted: list[str] = []
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    def script(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Keep the body as sent: the test checks it is gzip.
        self._runner = web.AppRunner(app, auto_decompress=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.ssl_context).start()

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        received = Received(
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            raw=await request.read(),
        )
        self.received.append(received)
        if self.hang:
            await self._release.wait()
        if self.answers:
            answer = self.answers.popleft()
        elif self.max_lines is not None and len(received.lines) > self.max_lines:
            answer = Answer(413, '{"code":"request too large","message":"too many lines"}')
        else:
            answer = Answer(204)
        if 200 <= answer.status < 300:
            self.accepted.extend(received.lines)
        return web.Response(
            status=answer.status,
            text=answer.body or None,
            headers=answer.headers,
            content_type="application/json" if answer.body.startswith("{") else None,
        )


def server_tls(cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*cert)
    return context
