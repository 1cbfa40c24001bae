"""A real Runtime built from a site config, with the store-facing views replaced by test doubles.

``history`` runs the real ``drivers.store_history.channel_history`` on a real SQLite file in a worker
thread, as the runtime does with its store; ``forward_stats`` and ``store_stats`` return what the
test set. Everything else (config, tokens, health, desk) is the real runtime's.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

from drivers.store_history import HistoryResult, NoStoreError, channel_history
from gateway.config import parse_config
from gateway.forward.stats import ForwardStats
from gateway.runtime import Runtime
from tests.api.sites import api_section, wind_site

# The local store's schema, as drivers/store_history.py is written against.
STORE_SCHEMA = """
CREATE TABLE channels (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE readings (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    channel INTEGER NOT NULL REFERENCES channels(id),
    value REAL,
    quality INTEGER NOT NULL
);
CREATE UNIQUE INDEX readings_channel_ts ON readings(channel, ts);
"""

TOKENS = {"T_VIEWER": ("viewer", "view-secret"), "T_ADMIN": ("admin", "admin-secret")}
SITE = wind_site(
    api_section("%s", TOKENS),
    devices="""\
  - id: pit.P3
    type: mqtt
    channels: {disp_h: {unit: mm}}
""",
)

CHANNELS = ("anemo1.wind_speed", "pit.P3.disp_h")

Row = tuple[float, str, float | None, int]  # ts, channel name, value, quality


def make_store(path: Path, rows: Iterable[Row], channels: Iterable[str] = CHANNELS) -> Path:
    """A store file with ``channels`` registered (as the store does at start) and ``rows`` in it."""
    with closing(sqlite3.connect(path)) as db:
        db.executescript(STORE_SCHEMA)
        db.executemany("INSERT INTO channels(name) VALUES (?)", [(c,) for c in channels])
        ids = dict(db.execute("SELECT name, id FROM channels"))
        db.executemany(
            "INSERT INTO readings(ts, channel, value, quality) VALUES (?, ?, ?, ?)",
            [(ts, ids[name], value, quality) for ts, name, value, quality in rows],
        )
        db.commit()
    return path


class FakeRuntime(Runtime):
    def __init__(
        self,
        base_dir: Path,
        store: Path | None,
        anonymous: str = "viewer",
        now: float = 1_700_000_000.0,
    ) -> None:
        super().__init__(parse_config(SITE % anonymous), base_dir=base_dir, clock=lambda: now)
        self.store_path = store
        self.history_calls: list[tuple[str, float, float, float | None]] = []
        self.statements: list[str] = []  # SQL as run by history, parameters filled in
        self.forward: list[ForwardStats] = []
        self.store_counters: dict[str, int] | None = None

    async def history(self, channel: str, start: float, end: float, step: float | None) -> HistoryResult:
        self.history_calls.append((channel, start, end, step))
        path = self.store_path
        if path is None:
            raise NoStoreError()

        def read() -> HistoryResult:
            with closing(sqlite3.connect(path)) as db:
                db.set_trace_callback(self.statements.append)
                return channel_history(db, channel, start, end, step)

        return await asyncio.to_thread(read)

    def forward_stats(self) -> list[ForwardStats]:
        return list(self.forward)

    def store_stats(self) -> dict[str, int] | None:
        return self.store_counters
