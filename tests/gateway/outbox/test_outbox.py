from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from drivers.outbox_store import OutboxEntry, OutboxStore
from gateway.alarms.outbox import Outbox
from tests.gateway.outbox.fakes import FakeSender, notice
from tests.support import eventually

# Retries scaled down from minutes to a fraction of a second.
FAST: dict[str, Any] = {"retry_first_s": 0.05, "retry_cap_s": 0.3}


@asynccontextmanager
async def running(path: Path, sender: FakeSender, **kw: Any) -> AsyncIterator[Outbox]:
    async with OutboxStore(path) as store, Outbox(store, sender, **{**FAST, **kw}) as outbox:
        yield outbox


def outage_lines(caplog: pytest.LogCaptureFixture, receiver: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if f"receiver {receiver} " in r.getMessage()]


async def test_receiver_down_then_up_gets_every_notice_exactly_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.alarms.outbox")
    sender = FakeSender()
    sender.down.add("down")
    async with running(tmp_path / "outbox.db", sender, group_window_s=0.1) as outbox:
        for i in range(30):
            await outbox.enqueue([notice(i, "down"), notice(i, "up")])
            await asyncio.sleep(0.02)
        # The outage goes on for a while (the acceptance's 60 s, scaled down): attempts keep failing.
        await eventually(lambda: outbox.stats()["down"].failed_attempts >= 6, 10.0, "retries")
        await outbox.enqueue([notice(i, "down") for i in range(30, 40)])
        assert sender.ids("down") == {}
        down = outbox.stats()["down"]
        assert (down.pending, down.failing, down.last_error) == (40, True, "connection refused")
        assert down.oldest_pending_age_s > 0.5
        sender.down.clear()

        await eventually(lambda: outbox.stats()["down"].pending == 0, 10.0, "the backlog to drain")
        assert sender.ids("down") == {f"down-n{i}": 1 for i in range(40)}
        assert sender.ids("up") == {f"up-n{i}": 1 for i in range(30)}
        down, up = outbox.stats()["down"], outbox.stats()["up"]
        assert (down.sent, down.rejected, down.pending, down.failing) == (40, 0, 0, False)
        assert down.oldest_pending_age_s == 0.0
        assert (up.sent, up.failed_attempts) == (30, 0)
        assert outbox.store is not None
        assert await outbox.store.outcome("down-n0") == "delivered"
    # One line when the outage began, one when it ended, however many attempts failed.
    lines = outage_lines(caplog, "down")
    assert len(lines) == 2, lines
    assert "failed: connection refused" in lines[0] and "recovered" in lines[1]
    assert outage_lines(caplog, "up") == []


async def test_new_outbox_on_the_same_db_sends_what_the_dropped_one_left(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    first = FakeSender()
    first.accept_only = 2  # then freezes mid-send, like a process killed while waiting for an answer
    old_store = await OutboxStore(path).__aenter__()
    old = Outbox(old_store, first, group_window_s=0.0, max_batch=10, **FAST)
    await old.start()
    await old.enqueue([notice(i) for i in range(50)])
    await eventually(lambda: first.attempts["r1"] >= 3, 5.0, "the third message in flight")
    assert first.messages("r1") == 2

    # Never stopped: a second outbox takes over the file, as after SIGKILL and a restart.
    second = FakeSender()
    async with running(path, second, group_window_s=0.0, max_batch=10) as new:
        assert new.stats()["r1"].pending == 30
        await eventually(lambda: new.stats()["r1"].pending == 0, 10.0, "the rest to be sent")
        await new.enqueue([notice(i) for i in range(50)])  # replayed by a restarted desk: not resent
        assert new.stats()["r1"].pending == 0

    both = first.ids() + second.ids()
    assert both == {f"r1-n{i}": 1 for i in range(50)}
    assert set(second.ids()) == {f"r1-n{i}" for i in range(20, 50)}
    await old.stop()
    await old_store.__aexit__(None, None, None)


async def test_a_burst_goes_out_as_a_handful_of_messages(tmp_path: Path) -> None:
    sender = FakeSender()
    async with running(tmp_path / "outbox.db", sender, group_window_s=0.5) as outbox:
        for k in range(20):  # 200 notices over about a second
            await outbox.enqueue([notice(10 * k + i) for i in range(10)])
            await asyncio.sleep(0.05)
        await eventually(lambda: outbox.stats()["r1"].sent == 200, 10.0, "all 200")
    assert 2 <= len(sender.accepted) <= 5, [len(ids) for _, ids in sender.accepted]
    assert sender.ids() == {f"r1-n{i}": 1 for i in range(200)}
    # Each message lists its notices in the order they were made.
    assert [i for _, ids in sender.accepted for i in ids] == [f"r1-n{i}" for i in range(200)]


async def test_leading_edge_sends_the_first_at_once_and_groups_the_rest(tmp_path: Path) -> None:
    sender = FakeSender()
    async with running(tmp_path / "outbox.db", sender, group_window_s=0.5, leading_edge=True) as outbox:
        start = time.monotonic()
        await outbox.enqueue([notice(0)])
        await eventually(lambda: sender.accepted, 5.0, "the first notice")
        assert time.monotonic() - start < 0.4
        for k in range(10):
            await outbox.enqueue([notice(1 + 10 * k + i) for i in range(10)])
            await asyncio.sleep(0.05)
        await eventually(lambda: outbox.stats()["r1"].sent == 101, 10.0, "all 101")
    assert sender.accepted[0] == ("r1", ["r1-n0"])
    assert len(sender.accepted) <= 4
    assert sender.ids() == {f"r1-n{i}": 1 for i in range(101)}


async def test_no_window_sends_at_once(tmp_path: Path) -> None:
    sender = FakeSender()
    async with running(tmp_path / "outbox.db", sender, group_window_s=0.0) as outbox:
        start = time.monotonic()
        await outbox.enqueue([notice(1)])
        await eventually(lambda: sender.accepted, 5.0, "the notice")
        assert time.monotonic() - start < 0.5
        assert outbox.stats()["r1"].messages == 1


async def test_refused_notices_are_counted_dropped_and_not_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="gateway.alarms.outbox")
    sender = FakeSender()
    sender.refusing.add("bad")
    async with running(tmp_path / "outbox.db", sender, group_window_s=0.05) as outbox:
        await outbox.enqueue([notice(i, "bad") for i in range(5)] + [notice(0, "good")])
        await eventually(lambda: outbox.stats()["bad"].rejected == 5, 5.0, "the refusal")
        await eventually(lambda: outbox.stats()["good"].sent == 1, 5.0, "the good one")
        assert await outbox.enqueue([notice(i, "bad") for i in range(5)]) == 0  # not again
        bad = outbox.stats()["bad"]
        assert (bad.pending, bad.sent, bad.failed_attempts) == (0, 0, 0)
        assert bad.last_error == "HTTP 400: bad payload"
        assert sender.attempts["bad"] == 1
        assert outbox.store is not None
        assert await outbox.store.outcome("bad-n3") == "rejected"
    assert any("5 notice(s) refused for good" in r.getMessage() for r in caplog.records)


async def test_a_sender_bug_drops_the_message_and_delivery_goes_on(tmp_path: Path) -> None:
    class Buggy(FakeSender):
        async def send(self, receiver_id: str, notices: list[Any]) -> None:
            if any(n.id == "r1-n0" for n in notices):
                raise KeyError("link")
            await super().send(receiver_id, notices)

    sender = Buggy()
    async with running(tmp_path / "outbox.db", sender, group_window_s=0.0) as outbox:
        await outbox.enqueue([notice(0)])
        await eventually(lambda: outbox.stats()["r1"].rejected == 1, 5.0, "the drop")
        await outbox.enqueue([notice(1)])
        await eventually(lambda: sender.ids() == {"r1-n1": 1}, 5.0, "the next notice")
        assert "unexpected error" in (outbox.stats()["r1"].last_error or "")


async def test_a_receiver_that_never_answers_is_retried(tmp_path: Path) -> None:
    sender = FakeSender()
    sender.stuck.add("r1")
    async with running(tmp_path / "outbox.db", sender, group_window_s=0.0, send_timeout_s=0.2) as outbox:
        await outbox.enqueue([notice(1)])
        await eventually(lambda: outbox.stats()["r1"].failed_attempts >= 1, 5.0, "the timeout")
        assert outbox.stats()["r1"].last_error == "no answer within 0.2 s"
        sender.stuck.clear()
        await eventually(lambda: outbox.stats()["r1"].sent == 1, 5.0, "the retry")
    assert sender.ids() == {"r1-n1": 1}


async def test_notices_wait_in_the_file_while_nothing_runs(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    sender = FakeSender()
    sender.down.add("r1")
    async with running(path, sender, group_window_s=0.0, receivers=["r1", "idle"]) as outbox:
        assert outbox.stats()["idle"].pending == 0  # configured receivers show up before any notice
        await outbox.enqueue([notice(i) for i in range(3)])
        await eventually(lambda: outbox.stats()["r1"].failed_attempts >= 2, 5.0, "failures")
    # Enqueued while no outbox runs: durable, sent by the next one.
    async with OutboxStore(path) as store:
        await Outbox(store, sender).enqueue([notice(3)])
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    attempts = dict(db.execute("SELECT id, attempts FROM outbox"))
    db.close()
    assert attempts["r1-n0"] >= 2 and attempts["r1-n3"] == 0
    sender.down.clear()
    async with running(path, sender, group_window_s=0.0) as outbox:
        await eventually(lambda: outbox.stats()["r1"].sent == 4, 5.0, "the backlog")
    assert sender.ids() == {f"r1-n{i}": 1 for i in range(4)}


async def test_a_clock_set_back_does_not_hold_notices(tmp_path: Path) -> None:
    offset = 0.0

    def clock() -> float:
        return time.time() - offset

    sender = FakeSender()
    async with running(tmp_path / "outbox.db", sender, group_window_s=0.3, clock=clock) as outbox:
        await outbox.enqueue([notice(1)])
        offset = 3600.0  # NTP sets the clock back an hour while the notice waits for its window
        await eventually(lambda: sender.accepted, 5.0, "the notice")


async def test_an_unreadable_notice_is_dropped_with_a_reason(tmp_path: Path) -> None:
    sender = FakeSender()
    async with OutboxStore(tmp_path / "outbox.db") as store:
        # Written by some other version of the gateway: not a Notice any more.
        await store.enqueue([OutboxEntry("old", "r1", 0.0, '{"id": "old", "colour": 1}')], 0.0, 0.0)
        async with Outbox(store, sender, group_window_s=0.0, **FAST) as outbox:
            await outbox.enqueue([notice(1)])
            await eventually(lambda: outbox.stats()["r1"].sent == 1, 5.0, "the readable one")
            r1 = outbox.stats()["r1"]
            assert (r1.rejected, r1.pending) == (1, 0)
            assert (r1.last_error or "").startswith("unreadable notice")
    assert sender.ids() == {"r1-n1": 1}
