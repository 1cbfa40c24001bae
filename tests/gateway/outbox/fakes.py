"""A recording sender whose receivers can be down, refusing or stuck, and notices to feed it."""

from __future__ import annotations

import asyncio
from collections import Counter

from gateway.alarms.notice import Notice
from gateway.vocab import RetryableSinkError, SinkRejectedError


def notice(i: int, receiver: str = "r1", ts: float | None = None) -> Notice:
    return Notice(
        id=f"{receiver}-n{i}",
        receiver=receiver,
        kind="raised",
        ts=float(i) if ts is None else ts,
        alarm={"id": f"A{i}", "channel": "crane1.load", "grade": 2, "message": "超载 / overload"},
        group="crane1",
    )


class FakeSender:
    """Records what each receiver accepted. ``down``: raise RetryableSinkError; ``refusing``:
    raise SinkRejectedError; ``stuck``: never answer; ``accept_only``: accept that many messages
    per receiver, then get stuck (a process frozen mid-send)."""

    def __init__(self) -> None:
        self.accepted: list[tuple[str, list[str]]] = []
        self.attempts: Counter[str] = Counter()
        self.down: set[str] = set()
        self.refusing: set[str] = set()
        self.stuck: set[str] = set()
        self.accept_only: int | None = None
        self.never = asyncio.Event()

    async def send(self, receiver_id: str, notices: list[Notice]) -> None:
        self.attempts[receiver_id] += 1
        if receiver_id in self.stuck or (
            self.accept_only is not None and self.messages(receiver_id) >= self.accept_only
        ):
            await self.never.wait()
        if receiver_id in self.down:
            raise RetryableSinkError(receiver_id, "connection refused")
        if receiver_id in self.refusing:
            raise SinkRejectedError(receiver_id, "HTTP 400: bad payload")
        self.accepted.append((receiver_id, [n.id for n in notices]))

    def messages(self, receiver_id: str) -> int:
        return sum(1 for r, _ in self.accepted if r == receiver_id)

    def ids(self, receiver_id: str | None = None) -> Counter[str]:
        return Counter(i for r, ids in self.accepted if receiver_id in (None, r) for i in ids)
