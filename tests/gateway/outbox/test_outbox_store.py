from __future__ import annotations

import sqlite3
from pathlib import Path

from drivers.outbox_store import OutboxEntry, OutboxStore


def entry(i: int, receiver: str = "r1", ts: float | None = None) -> OutboxEntry:
    return OutboxEntry(f"n{i}", receiver, float(i) if ts is None else ts, f'{{"id":"n{i}"}}')


async def test_pending_in_notice_time_order_per_receiver(tmp_path: Path) -> None:
    async with OutboxStore(tmp_path / "sub" / "outbox.db") as store:
        added = await store.enqueue(
            [entry(1, ts=30.0), entry(2, ts=10.0), entry(3, "r2"), entry(4, ts=20.0)], 100.0, 105.0
        )
        assert [e.id for e in added.added] == ["n1", "n2", "n3", "n4"]
        assert (added.backlogs["r1"].pending, added.backlogs["r2"].pending) == (3, 1)
        rows = await store.pending("r1", 10)
        assert [r.id for r in rows] == ["n2", "n4", "n1"]
        assert {(r.enqueued_at, r.next_attempt_at, r.attempts, r.last_error) for r in rows} == {
            (100.0, 105.0, 0, None)
        }
        assert [r.id for r in await store.pending("r1", 2)] == ["n2", "n4"]
        backlogs = await store.backlogs()
        assert (backlogs["r1"].pending, backlogs["r1"].oldest_enqueued_at) == (3, 100.0)
        assert backlogs["r2"].pending == 1
        empty = await store.backlog("nobody")
        assert (empty.pending, empty.oldest_enqueued_at, empty.next_attempt_at) == (0, None, None)


async def test_enqueue_is_idempotent_on_the_notice_id(tmp_path: Path) -> None:
    async with OutboxStore(tmp_path / "outbox.db") as store:
        assert len((await store.enqueue([entry(1), entry(1), entry(2)], 1.0, 1.0)).added) == 2
        assert (await store.enqueue([entry(1)], 2.0, 2.0)).added == []
        await store.delivered(["n1"], 3.0)
        await store.rejected(["n2"], 3.0, "HTTP 400")
        # Done ids are remembered: enqueued again, they are not sent again.
        again = await store.enqueue([entry(1), entry(2), entry(3)], 4.0, 4.0)
        assert (again.added, again.backlogs["r1"].pending) == ([entry(3)], 1)
        assert await store.outcome("n1") == "delivered"
        assert await store.outcome("n2") == "rejected"
        assert await store.outcome("n3") == "pending"
        assert await store.outcome("n9") is None


async def test_failed_attempts_are_counted_with_the_next_time(tmp_path: Path) -> None:
    async with OutboxStore(tmp_path / "outbox.db") as store:
        await store.enqueue([entry(1), entry(2)], 1.0, 1.0)
        await store.failed(["n1"], "HTTP 503", 50.0)
        await store.failed(["n1"], "timeout", 60.0)
        rows = {r.id: r for r in await store.pending("r1", 10)}
        assert (rows["n1"].attempts, rows["n1"].last_error, rows["n1"].next_attempt_at) == (
            2,
            "timeout",
            60.0,
        )
        assert (rows["n2"].attempts, rows["n2"].next_attempt_at) == (0, 1.0)
        assert (await store.backlog("r1")).next_attempt_at == 1.0


async def test_done_ids_are_kept_for_a_bounded_time_and_number(tmp_path: Path) -> None:
    async with OutboxStore(tmp_path / "outbox.db", done_keep_s=100.0, done_keep_max=2) as store:
        await store.enqueue([entry(i) for i in range(5)], 0.0, 0.0)
        for i in range(4):
            await store.delivered([f"n{i}"], 1000.0 + i)  # pruned on the first, then once a minute
        assert [await store.outcome(f"n{i}") for i in range(4)] == ["delivered"] * 4
        await store.delivered(["n4"], 1100.0)  # a minute later: prune to the newest two
        assert [await store.outcome(f"n{i}") for i in range(5)] == [
            None,
            None,
            None,
            "delivered",
            "delivered",
        ]
        await store.delivered([], 1300.0)  # past the retention: all forgotten
        assert await store.outcome("n4") is None
        assert len((await store.enqueue([entry(4)], 1300.0, 1300.0)).added) == 1


async def test_file_is_wal_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with OutboxStore(path) as store:
        await store.enqueue([entry(1), entry(2)], 1.0, 1.0)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 2
    db.close()
    async with OutboxStore(path) as store:
        assert [r.id for r in await store.pending("r1", 10)] == ["n1", "n2"]
