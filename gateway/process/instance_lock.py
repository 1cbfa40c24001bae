"""One gateway per site's stores: a second ``smartsite run`` on the same files would judge and push
every alarm twice and fight over the store; ``smartsite restore`` must not replace files in use.

The lock is an advisory ``flock`` on ``<alarm store>.lock``, held for the life of the process and
released by the kernel however the process ends (SIGKILL and power cuts included), so a stale lock
file never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class InstanceLockedError(Exception):
    """Another process holds the site's lock."""


class InstanceLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise InstanceLockedError(
                f"another gateway (pid {holder}) uses this site's stores: {self.path} is locked"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def site_lock_path(alarm_store: Path) -> Path:
    return alarm_store.with_name(alarm_store.name + ".lock")
