"""Server-sent events from a live-feed subscription, as a plain ASGI response.

Each frame is bytes the feed encoded once for all clients. Frames waiting in the client's queue go
out together in one write; a comment line (``: ping``) goes out after ``ping_s`` without events, so
proxies and browsers keep the connection. The stream ends when the client disconnects, when the
feed closes, or when the feed drops the client for falling behind: then the connection is cut at
once (a write to a client that does not read would otherwise wait for ever).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import Response

from api.connections import abort_connection
from gateway.live import LiveFeed, Subscription

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PING = b": ping\n\n"
MAX_FRAMES_PER_WRITE = 64
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # a reverse proxy must not hold events back
]


class EventStream(Response):
    media_type = "text/event-stream"

    def __init__(self, feed: LiveFeed, sub: Subscription | None, first: bytes, ping_s: float) -> None:
        """``sub`` None: send ``first`` and end (the feed is not running)."""
        super().__init__(status_code=200)
        self.feed = feed
        self.sub = sub
        self.first = first
        self.ping_s = ping_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sub = self.sub
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        if sub is None:
            await send({"type": "http.response.body", "body": self.first, "more_body": False})
            return
        client = scope.get("client")

        def cut() -> None:
            abort_connection(client)

        sub.on_drop = cut
        listener = asyncio.create_task(_until_disconnect(receive, sub))
        try:
            await send({"type": "http.response.body", "body": self.first, "more_body": True})
            while True:
                chunk = await self._next(sub)
                if chunk is None:
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sub.sent += 1
            if not sub.dropped and not listener.done():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            self.feed.unsubscribe(sub)

    async def _next(self, sub: Subscription) -> bytes | None:
        try:
            event = await asyncio.wait_for(sub.queue.get(), self.ping_s)
        except TimeoutError:
            return PING
        if event is None:
            return None
        frames = [event.wire]
        while len(frames) < MAX_FRAMES_PER_WRITE and not sub.queue.empty():
            more = sub.queue.get_nowait()
            if more is None:
                sub.queue.put_nowait(None)  # end after these
                break
            frames.append(more.wire)
        return b"".join(frames)


async def _until_disconnect(receive: Receive, sub: Subscription) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            sub.end()
            return
