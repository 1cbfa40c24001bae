"""A small server-sent events reader for the tests: real HTTP, the wire format parsed by hand."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Event:
    kind: str
    data: Any
    id: str | None


class EventReader:
    """Events of one stream, plus the comment lines (pings) seen."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.pings = 0
        self.retry: int | None = None
        self._lines = response.aiter_lines()

    async def next(self, within_s: float = 5.0) -> Event:
        return await asyncio.wait_for(self._next(), within_s)

    async def _next(self) -> Event:
        kind, data, event_id = "message", [], None
        async for line in self._lines:
            if line == "":
                if data:
                    return Event(kind, json.loads("\n".join(data)), event_id)
                kind, data, event_id = "message", [], None
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "":
                self.pings += value == "ping"
            elif field == "event":
                kind = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                event_id = value
            elif field == "retry":
                self.retry = int(value)
        raise EOFError("the stream ended")

    async def until(self, kind: str, within_s: float = 5.0) -> Event:
        """The next event of ``kind`` (others are skipped)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + within_s
        while True:
            event = await self.next(max(0.01, end - loop.time()))
            if event.kind == kind:
                return event


async def events(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[EventReader]:
    async with client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200, response.status_code
        assert response.headers["content-type"].startswith("text/event-stream")
        yield EventReader(response)
