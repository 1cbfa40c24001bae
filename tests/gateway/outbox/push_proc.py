"""A gateway stand-in for the crash test: an outbox posting notices to an HTTP receiver.

    python -m tests.gateway.outbox.push_proc DB URL COUNT

Enqueues COUNT notices (none if 0), prints ``enqueued`` once they are durable, then delivers until
killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from drivers.outbox_store import OutboxStore
from gateway.alarms.notice import Notice
from gateway.alarms.outbox import Outbox
from gateway.vocab import RetryableSinkError, SinkRejectedError


class HttpSender:
    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.url = url

    async def send(self, receiver_id: str, notices: list[Notice]) -> None:
        try:
            answer = await self.client.post(self.url, json={"ids": [n.id for n in notices]})
        except httpx.HTTPError as exc:
            raise RetryableSinkError(receiver_id, repr(exc)) from exc
        if answer.status_code == 429 or answer.status_code >= 500:
            raise RetryableSinkError(receiver_id, f"HTTP {answer.status_code}")
        if answer.status_code >= 400:
            raise SinkRejectedError(receiver_id, f"HTTP {answer.status_code}")


async def main(db: Path, url: str, count: int) -> None:
    async with httpx.AsyncClient(timeout=2.0) as client, OutboxStore(db) as store:
        sender = HttpSender(client, url)
        outbox = Outbox(store, sender, group_window_s=0.0, retry_first_s=0.05, retry_cap_s=0.2, max_batch=10)
        async with outbox:
            if count:
                notices = [
                    Notice(id=f"n{i}", receiver="hook", kind="raised", ts=float(i), alarm={"id": f"A{i}"})
                    for i in range(count)
                ]
                await outbox.enqueue(notices)
                print("enqueued", flush=True)
            await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
