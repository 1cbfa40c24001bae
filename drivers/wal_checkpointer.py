"""Checkpoints of a WAL-mode SQLite file on a connection and thread of their own.

SQLite checkpoints in the committing connection once the WAL reaches ``wal_autocheckpoint`` pages:
the write that crosses it waits for the copy of every page into the database file and its fsync.
For the readings store that was the longest stall of a busy gateway's writes (a reading waits for
the next write, and that write for the checkpoint). A PASSIVE checkpoint from another connection
runs beside the writer (it never waits for it, nor the writer for it), so here one runs every
``every_s``; the writer's own auto-checkpoint stays as the safety net should this one fall behind.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = 0.5


class WalCheckpointer:
    def __init__(self, path: Path, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self._path = path
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0
        self.failures = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        db = sqlite3.connect(self._path, timeout=0.0, check_same_thread=False)
        try:
            while not self._stop.wait(self._every_s):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:  # a full disk, say: the writer's own checkpoint remains
                    self.failures += 1
                    if self.failures == 1:
                        log.warning(
                            "local store: background checkpoint failed (%s); further ones are only counted",
                            exc,
                        )
                else:
                    self.checkpoints += 1
        finally:
            db.close()
