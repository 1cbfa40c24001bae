"""Disk space held back for the alarm store, released when the disk is full.

A full disk must not stop alarm records and pushes (both live in the alarm store). The gateway
keeps a file of ``size`` bytes beside the alarm store while there is room for it, and deletes it
when the local store reports a full disk: SQLite then has that much room for alarms.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

RESERVE_BYTES = 8 * 1024 * 1024
_CHUNK = 1024 * 1024


class Reserve:
    def __init__(self, path: Path, size: int = RESERVE_BYTES) -> None:
        self.path = path
        self.size = size

    def ensure(self) -> bool:
        """Make the reserve when it is missing and the disk has twice its size free."""
        try:
            if self.path.exists() and self.path.stat().st_size >= self.size:
                return True
            if shutil.disk_usage(self.path.parent).free < 2 * self.size:
                return False
            # Real blocks, not a sparse file: deleting it must free space.
            with self.path.open("wb") as out:
                for _ in range(self.size // _CHUNK):
                    out.write(b"\0" * _CHUNK)
                out.flush()
                os.fsync(out.fileno())
            return True
        except OSError as exc:
            log.warning("cannot make the alarm store's disk reserve %s: %s", self.path, exc.strerror)
            self.path.unlink(missing_ok=True)
            return False

    def release(self) -> int:
        """Delete the reserve; the bytes freed (0 when there was none)."""
        try:
            size = self.path.stat().st_size
            self.path.unlink()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            log.error("cannot release the alarm store's disk reserve %s: %s", self.path, exc.strerror)
            return 0
        return size
