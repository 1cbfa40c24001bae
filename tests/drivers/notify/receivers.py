"""Real local receivers for the notification tests: an HTTP server that records every request (and
checks DingTalk signatures like the robot does), and an SMTP server that records mail."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import ssl
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support import free_port

REASONS = {200: "OK", 307: "Temporary Redirect", 400: "Bad Request", 429: "Too Many Requests", 500: "Error"}


@dataclass
class Reply:
    status: int = 200
    body: bytes = b'{"errcode":0,"errmsg":"ok"}'
    hang: bool = False
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpRecorder:
    """A small HTTP/1.1 server on 127.0.0.1 recording requests; replies are set per path.

    ``dingtalk_secret`` makes ``/dingtalk`` check ``timestamp`` and ``sign`` the way the robot does,
    answering errcode 310000 when they are wrong.
    """

    def __init__(self, dingtalk_secret: str | None = None) -> None:
        self.port = free_port()
        self.requests: list[Request] = []
        self.replies: dict[str, Reply] = {}
        self.dingtalk_secret = dingtalk_secret
        self.bad_signatures = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    async def __aenter__(self) -> HttpRecorder:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                parts = urlsplit(target)
                request = Request(method, parts.path, parse_qs(parts.query), headers, body)
                self.requests.append(request)
                reply = self._reply_for(request)
                if reply.hang:
                    await asyncio.Event().wait()
                extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
                writer.write(
                    (
                        f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'X')}\r\n"
                        "Content-Type: application/json\r\n"
                        f"Content-Length: {len(reply.body)}\r\n{extra}\r\n"
                    ).encode()
                    + reply.body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    def _reply_for(self, request: Request) -> Reply:
        checked = request.path == "/dingtalk" and self.dingtalk_secret is not None
        if checked and not self.signature_ok(request):
            self.bad_signatures += 1
            return Reply(body=b'{"errcode":310000,"errmsg":"sign not match"}')
        return self.replies.get(request.path, Reply())

    def signature_ok(self, request: Request) -> bool:
        assert self.dingtalk_secret is not None
        try:
            timestamp = request.query["timestamp"][0]
            sign = request.query["sign"][0]
        except (KeyError, IndexError):
            return False
        if abs(int(timestamp) - time.time() * 1000) > 3600_000:
            return False
        secret = self.dingtalk_secret.encode()
        digest = hmac.new(secret, f"{timestamp}\n{self.dingtalk_secret}".encode(), hashlib.sha256).digest()
        return hmac.compare_digest(base64.b64encode(digest).decode(), sign)


class _Recording:
    def __init__(self) -> None:
        self.mails: list[tuple[Envelope, Message, bool]] = []
        self.refused: set[str] = set()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.mails.append((envelope, message_from_bytes(content), session.ssl is not None))
        return "250 OK"


class SmtpRecorder:
    """aiosmtpd on a free loopback port; with ``cert`` it offers (and requires) STARTTLS."""

    def __init__(self, cert: tuple[Path, Path] | None = None) -> None:
        self.port = free_port()
        self._handler = _Recording()
        kwargs: dict[str, Any] = {}
        if cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert[0]), str(cert[1]))
            kwargs = {"tls_context": context, "require_starttls": True}
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port, **kwargs)

    @property
    def mails(self) -> list[tuple[Envelope, Message, bool]]:
        return self._handler.mails

    def refuse(self, address: str) -> None:
        self._handler.refused.add(address)

    def __enter__(self) -> SmtpRecorder:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
