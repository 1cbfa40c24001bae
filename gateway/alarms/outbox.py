"""The push outbox: notices wait in SQLite until their receiver accepted them.

``enqueue`` returns once the notices are committed, so a push that was due before a crash is sent
after it. One dispatcher task per receiver groups what is waiting into one message, hands it to the
``Sender`` and forgets the notices only when the receiver accepted them:

- success: the notices are marked delivered; their ids are remembered for a while so the same
  notice enqueued again is not sent twice;
- RetryableSinkError (link down, 5xx, 429, timeout): they stay; the receiver is retried with capped,
  jittered backoff; one log line when the outage starts and one when it ends;
- SinkRejectedError (the receiver refused the message for good): they are dropped, counted per
  receiver and logged with the reason.

Delivery is at least once: a crash between the receiver's answer and the commit that marks the
notices delivered sends them again after the restart. Receivers drop duplicates by notice id.

Grouping: notices wait ``group_window_s`` after they were enqueued, so a burst goes out as one
message listing every notice. With ``leading_edge`` the first notice after a quiet spell goes out at
once and the rest of the burst waits until ``group_window_s`` after that send.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from drivers.outage import Backoff, OutageLog, until_accepted
from drivers.outbox_store import Backlog, OutboxEntry, OutboxStore, PendingNotice
from gateway.alarms.notice import Notice
from gateway.like_named import like_named
from gateway.vocab import RetryableSinkError, SinkRejectedError

log = logging.getLogger(__name__)


class Sender(Protocol):
    """Delivers a group of notices to one receiver (renders them and sends one message).

    Returns when the receiver accepted the message; raises RetryableSinkError to have the notices
    offered again later and SinkRejectedError when the receiver refused them for good.
    """

    async def send(self, receiver_id: str, notices: list[Notice]) -> None: ...


@dataclass(frozen=True, slots=True)
class ReceiverStats:
    """One receiver's counters since the outbox started, and its backlog now."""

    receiver: str
    sent: int  # notices the receiver accepted
    messages: int  # messages it accepted (one per group)
    failed_attempts: int  # send attempts that failed and will be retried
    rejected: int  # notices refused for good and dropped
    pending: int  # notices waiting
    oldest_pending_age_s: float  # 0 when nothing waits
    failing: bool  # the last attempt failed and the notices wait for a retry
    last_error: str | None
    # Alarm floods (gateway.alarms.flood), filled in by Pushes
    flooding: bool = False
    floods: int = 0
    flood_summaries: int = 0
    flood_summarised: int = 0
    alarms_in_window: int = 0


class _Receiver:
    def __init__(self, receiver: str, backoff: Backoff, outage: OutageLog, store_backoff: Backoff) -> None:
        self.id = receiver
        self.wake = asyncio.Event()
        self.backoff = backoff
        self.store_backoff = store_backoff
        self.outage = outage
        self.task: asyncio.Task[None] | None = None
        self.retry_at = -math.inf
        self.last_send_at = -math.inf
        self.last_delivered_at = -math.inf
        self.sent = 0
        self.messages = 0
        self.failed_attempts = 0
        self.rejected = 0
        self.pending = 0
        self.oldest_enqueued_at: float | None = None
        self.failing = False
        self.last_error: str | None = None

    def apply(self, backlog: Backlog) -> None:
        self.pending = backlog.pending
        self.oldest_enqueued_at = backlog.oldest_enqueued_at


class Pacing(Protocol):
    """How a receiver's messages are spaced: told of every notice stored, asked for the wait
    between messages (``gateway.alarms.flood.FloodWatch``: wider during an alarm flood)."""

    def note(self, notices: Sequence[Notice]) -> None: ...

    def group_window(self, receiver: str, normal_s: float) -> float: ...


class Outbox:
    """Durable, grouped, retried delivery of notices, one dispatcher per receiver.

    ``enqueue`` may be called before ``start`` (the notices wait) and after ``stop`` (likewise; a
    new outbox on the same store sends them). The store's lifecycle belongs to the caller: enter it
    before ``start`` and exit it after ``stop``.
    """

    def __init__(
        self,
        store: OutboxStore,
        sender: Sender,
        group_window_s: float = 5.0,
        retry_cap_s: float = 300.0,
        clock: Callable[[], float] = time.time,
        *,
        receivers: Iterable[str] = (),
        leading_edge: bool = False,
        retry_first_s: float = 1.0,
        max_batch: int = 500,
        send_timeout_s: float = 60.0,
        rand: Callable[[], float] = random.random,
        pacing: Pacing | None = None,
    ) -> None:
        if group_window_s < 0 or retry_cap_s <= 0 or retry_first_s <= 0 or max_batch < 1:
            raise ValueError("outbox: group_window_s >= 0, retry delays > 0 and max_batch >= 1 required")
        self.store = store
        self.sender = sender
        self.group_window_s = group_window_s
        self.retry_cap_s = retry_cap_s
        self.leading_edge = leading_edge
        self.retry_first_s = min(retry_first_s, retry_cap_s)
        self.max_batch = max_batch
        self.send_timeout_s = send_timeout_s
        self._clock = clock
        self._rand = rand
        # A receiver's wait between messages, given the normal one (longer during an alarm flood).
        self._pacing = pacing
        self._window_for = pacing.group_window if pacing else (lambda _receiver, normal_s: normal_s)
        self._receivers: dict[str, _Receiver] = {}
        self._store_outage = OutageLog(log, "outbox store")
        self._started = False
        for receiver in receivers:
            self._receiver(receiver)

    async def __aenter__(self) -> Outbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start a dispatcher for every known receiver and every receiver with notices waiting."""
        if self._started:
            return
        for receiver, backlog in (await self.store.backlogs()).items():
            self._receiver(receiver).apply(backlog)
        self._started = True
        for state in self._receivers.values():
            self._spawn(state)

    async def stop(self) -> None:
        """Stop the dispatchers; a message being sent is abandoned and its notices stay waiting."""
        self._started = False
        tasks = [s.task for s in self._receivers.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for state in self._receivers.values():
            state.task = None

    async def enqueue(self, notices: Iterable[Notice]) -> int:
        """Store the notices durably, then wake their receivers; returns how many were new.

        A notice whose id is already waiting, or was delivered or refused recently, is ignored.
        Raises RetryableSinkError when the store cannot write (nothing was stored).
        """
        notices = list(notices)
        entries = [OutboxEntry(n.id, n.receiver, n.ts, n.to_json()) for n in notices]
        if not entries:
            return 0
        now = self._clock()
        due_at = now if self.leading_edge else now + self.group_window_s
        enqueued = await self.store.enqueue(entries, now, due_at)
        for receiver, backlog in enqueued.backlogs.items():
            state = self._receiver(receiver)
            state.apply(backlog)
            if self._started and state.task is None:
                self._spawn(state)
            state.wake.set()
        if self._pacing is not None:
            self._pacing.note(notices)  # once stored: a notice the store refused is offered again
        return len(enqueued.added)

    def stats(self) -> dict[str, ReceiverStats]:
        now = self._clock()
        return {
            r.id: like_named(
                ReceiverStats,
                r,
                receiver=r.id,
                oldest_pending_age_s=(
                    0.0 if r.oldest_enqueued_at is None else max(0.0, now - r.oldest_enqueued_at)
                ),
            )
            for r in self._receivers.values()
        }

    # Dispatching

    def _receiver(self, receiver: str) -> _Receiver:
        state = self._receivers.get(receiver)
        if state is None:
            state = _Receiver(
                receiver,
                Backoff(first=self.retry_first_s, cap=self.retry_cap_s, rand=self._rand),
                OutageLog(log, f"push to receiver {receiver}"),
                Backoff(first=0.2, cap=min(5.0, self.retry_cap_s), rand=self._rand),
            )
            self._receivers[receiver] = state
        return state

    def _spawn(self, state: _Receiver) -> None:
        state.task = asyncio.create_task(self._dispatch(state), name=f"outbox-{state.id}")

    async def _dispatch(self, state: _Receiver) -> None:
        while True:
            try:
                await self._round(state)
            except RetryableSinkError as exc:  # the store, not the receiver: that is handled inside
                self._store_outage.failed(exc.reason)
                await asyncio.sleep(state.store_backoff.next_delay())
            except Exception:
                # A bug must not end delivery to this receiver for good.
                log.exception("outbox dispatcher for receiver %s failed; going on", state.id)
                await asyncio.sleep(state.store_backoff.next_delay())
            else:
                state.store_backoff.reset()
                self._store_outage.recovered()

    async def _round(self, state: _Receiver) -> None:
        # Cleared before the store is read: an enqueue committed after the read sets it again.
        state.wake.clear()
        backlog = await self.store.backlog(state.id)
        state.apply(backlog)
        if backlog.next_attempt_at is None:
            await state.wake.wait()
            return
        due = max(backlog.next_attempt_at, state.retry_at)
        window = self._window_for(state.id, self.group_window_s)
        if self.leading_edge:
            due = max(due, state.last_send_at + self.group_window_s)
        if window > self.group_window_s:
            # A flood's summaries are spaced from the last one the receiver got; a failed attempt
            # reached nobody, so its retry keeps the ordinary backoff.
            due = max(due, state.last_delivered_at + window)
        delay = due - self._clock()
        if delay > max(window, self.retry_cap_s) + 1.0:
            # Longer than any wait the outbox sets: the wall clock was set back (NTP after boot).
            # What was due stays due instead of waiting out the jump.
            delay = 0.0
        if delay > 0:
            if window > self.group_window_s:
                # A long wait (a flood's summaries): a notice enqueued meanwhile may shorten it (a
                # red alarm), so wake for it and work the wait out again.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.wake.wait(), delay)
                return
            # Notices enqueued meanwhile are due no earlier than this, so no need to wake for them.
            await asyncio.sleep(delay)
            return
        rows = await self.store.pending(state.id, self.max_batch)
        if rows:
            await self._send(state, rows)

    async def _send(self, state: _Receiver, rows: list[PendingNotice]) -> None:
        notices: list[Notice] = []
        for row in rows:
            try:
                notices.append(Notice.from_json(row.body))
            except (json.JSONDecodeError, TypeError, ValueError) as exc:
                await self._rejected(state, [row.id], f"unreadable notice: {exc}")
        if not notices:
            return
        ids = [n.id for n in notices]
        state.last_send_at = self._clock()
        try:
            async with asyncio.timeout(self.send_timeout_s):
                await self.sender.send(state.id, notices)
        except RetryableSinkError as exc:
            await self._failed(state, ids, exc.reason)
        except TimeoutError:
            await self._failed(state, ids, f"no answer within {self.send_timeout_s:g} s")
        except SinkRejectedError as exc:
            await self._rejected(state, ids, exc.reason)
        except Exception as exc:
            # The channel contract: any other error drops the message with a counted, logged reason.
            log.exception("push to receiver %s: unexpected error", state.id)
            await self._rejected(state, ids, f"unexpected error: {exc!r}")
        else:
            await self._delivered(state, ids)

    async def _delivered(self, state: _Receiver, ids: list[str]) -> None:
        state.last_delivered_at = self._clock()
        state.failing = False
        state.retry_at = -math.inf
        state.backoff.reset()
        state.outage.recovered()
        # The receiver has them: sending them again because the store hiccupped would double them.
        await self._until_stored(self.store.delivered, ids, self._clock())
        # Counters and backlog change together, after the last await: a reader (health, a test)
        # never sees nothing pending beside an oldest pending notice.
        backlog = await self.store.backlog(state.id)
        state.sent += len(ids)
        state.messages += 1
        state.apply(backlog)

    async def _rejected(self, state: _Receiver, ids: list[str], reason: str) -> None:
        state.last_error = reason
        state.failing = False
        state.retry_at = -math.inf
        state.backoff.reset()
        state.outage.recovered()  # the receiver answered, so the link is up
        log.error(
            "push to receiver %s: %d notice(s) refused for good, dropped: %s", state.id, len(ids), reason
        )
        await self._until_stored(self.store.rejected, ids, self._clock(), reason)
        backlog = await self.store.backlog(state.id)
        state.rejected += len(ids)
        state.apply(backlog)

    async def _failed(self, state: _Receiver, ids: list[str], reason: str) -> None:
        state.failing = True
        state.last_error = reason
        state.outage.failed(reason)
        state.retry_at = self._clock() + state.backoff.next_delay()
        await self.store.failed(ids, reason, state.retry_at)
        # Counted once the file holds the attempt: a reader that sees two failures finds two there.
        state.failed_attempts += 1

    async def _until_stored(self, write: Callable[..., Awaitable[None]], *args: object) -> None:
        backoff = Backoff(first=0.05, cap=2.0, rand=self._rand)
        await until_accepted(lambda: write(*args), backoff, self._store_outage)
