"""One SQLite file in WAL mode, used from one worker thread so the event loop never waits on disk.

The stores (readings, alarm records, push outbox) build on this: they write ``_sync`` methods that
use ``self._conn()`` and call them with ``await self._run(...)``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

T = TypeVar("T")


class SqliteFile:
    """Enter before any call; nothing is called after exit."""

    def __init__(
        self,
        path: str | Path,
        schema: str,
        synchronous: Literal["NORMAL", "FULL"],
        thread_name: str,
    ) -> None:
        self.path = Path(path)
        self._schema = schema
        self._synchronous = synchronous
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._db: sqlite3.Connection | None = None

    async def __aenter__(self) -> Self:
        await self._run(self._open)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._run(self._close)
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` in the file's worker thread: for tables other modules keep here."""
        result: T = await self._run(lambda: fn(self._conn(), *args))
        return result

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._synchronous}")
        db.executescript(self._schema)
        db.commit()
        self._db = db
        self._opened(db)

    def _opened(self, db: sqlite3.Connection) -> None:
        """Hook: more set-up once the file is open (in the worker thread)."""

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"{type(self).__name__} used outside its context")
        return self._db


def json_bodies(db: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    """The JSON documents a query selects (one column), in its order."""
    return [json.loads(body) for (body,) in db.execute(sql, args)]
