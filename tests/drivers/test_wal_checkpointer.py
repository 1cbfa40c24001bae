"""Checkpoints beside the writer (drivers.wal_checkpointer): the database file gets the WAL's pages
without the writer's help, and the thread ends with the store."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
import time
from pathlib import Path

from drivers import SqliteStore
from drivers.wal_checkpointer import WalCheckpointer
from gateway.vocab import ReadingBatch, SinkBatch


def _rows_in_file_alone(db: Path, copy: Path) -> int:
    """Rows of the database file without its WAL: what has been checkpointed."""
    shutil.copyfile(db, copy)
    with sqlite3.connect(copy) as conn:
        return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])


def test_the_database_file_gets_the_wal_pages_while_the_writer_never_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # the writer never checkpoints by itself
    writer.execute("CREATE TABLE readings (ts REAL)")
    checkpointer = WalCheckpointer(path, every_s=0.02)
    checkpointer.start()
    try:
        writer.executemany("INSERT INTO readings VALUES (?)", [(float(i),) for i in range(5000)])
        deadline = time.monotonic() + 10
        while _rows_in_file_alone(path, tmp_path / "copy.db") < 5000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _rows_in_file_alone(path, tmp_path / "copy.db") == 5000
        assert checkpointer.checkpoints >= 1 and checkpointer.failures == 0
    finally:
        checkpointer.stop()
        writer.close()


def test_the_checkpoint_thread_ends_with_the_store(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with SqliteStore(tmp_path / "s.db", ["a.x"]) as store:
            await store.write(SinkBatch(ReadingBatch.from_lists([1.0, 2.0], [0, 0], [1.0, 2.0], [0, 0])))
            assert any(t.name == "sqlite-checkpoint" for t in threading.enumerate())

    asyncio.run(scenario())
    assert not any(t.name == "sqlite-checkpoint" for t in threading.enumerate())
