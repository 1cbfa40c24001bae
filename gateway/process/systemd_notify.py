"""systemd's notify protocol (sd_notify): READY, STATUS, STOPPING and the watchdog ping.

The unit in ``deploy/smartsite.service`` runs the gateway with ``Type=notify`` and ``WatchdogSec``:
systemd restarts the gateway when the pings stop. A ping is only sent while the runtime is really
alive (the clock tick went round recently and the analytics task is not failing), so a gateway whose
event loop or analytics hang is restarted instead of looking healthy. Written by hand: the protocol
is one datagram on a Unix socket, and the Python binding (python3-systemd) is not on PyPI.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends notify datagrams to ``$NOTIFY_SOCKET``; does nothing when systemd did not ask for them."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        # An abstract socket is written with a leading '@'; the kernel wants a NUL byte instead.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_s = _watchdog_interval(env)
        self._failed_once = False

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def send(self, *fields: str) -> bool:
        """Send ``KEY=value`` fields in one datagram; False (logged once) when it cannot be sent."""
        if not self._address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(fields).encode(), self._address)
        except OSError as exc:
            if not self._failed_once:
                log.warning("systemd notify socket %r: %s", self._address, exc)
                self._failed_once = True
            return False
        return True


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """The watchdog period systemd asked for, None when there is none (or it is for another process)."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000


async def keep_watchdog(notifier: Notifier, alive: Callable[[], bool]) -> None:
    """Ping the watchdog at half its period while ``alive()`` says the gateway works."""
    if notifier.watchdog_s is None:
        return
    period = notifier.watchdog_s / 2
    stalled = False
    while True:
        if alive():
            notifier.send("WATCHDOG=1")
            if stalled:
                log.info("watchdog: the gateway is alive again, pinging systemd")
                stalled = False
        elif not stalled:
            log.error("watchdog: the gateway looks stalled, no ping (systemd restarts it if it stays so)")
            stalled = True
        await asyncio.sleep(period)
