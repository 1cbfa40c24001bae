"""Helpers for tests that start real processes: free ports, deadlines, a mosquitto broker."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from gateway.vocab import AlarmEvent

T = TypeVar("T")

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


@contextlib.asynccontextmanager
async def in_background(work: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task[None]]:
    """``work`` runs as a task for the block; cancelled after it, and awaited."""
    task = asyncio.create_task(work)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class FakeClock:
    """A clock the test moves by hand: calling it answers ``now``."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def raised_event(site: str, ts: float, **more: Any) -> AlarmEvent:
    """Alarm A1 raised: channel a.x over rule r's yellow limit 10 mm at 11 mm (``more``: other fields)."""
    return AlarmEvent(
        site=site, ts=ts, channel="a.x", rule="r", grade=1, state="raised", value=11.0, limit=10.0,
        unit="mm", message="m", alarm_id="A1", **more,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Signal a child that still runs (``sig``) and reap it; killed if not ended after ``timeout`` s."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key, made by openssl; nobody trusts it."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def wait_for_port(port: int, deadline_s: float = 10.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {deadline_s} s")


async def eventually(
    check: Callable[[], Awaitable[T | None]] | Callable[[], T | None],
    deadline_s: float,
    what: str,
    every_s: float = 0.05,
) -> T:
    """Poll ``check`` until it returns something truthy; fail after the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")
        await asyncio.sleep(every_s)


class Mosquitto:
    """A private mosquitto on a free loopback port, with persistence, that a test can kill and restart."""

    def __init__(
        self, folder: Path, port: int | None = None, listener_conf: str = "", max_inflight: int = 1000
    ) -> None:
        """``listener_conf``: lines for the listener (TLS files, password file) in place of anonymous.
        ``max_inflight``: 20 is mosquitto's own default, as a site broker left untuned has it."""
        self.folder = folder
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            + (listener_conf or "allow_anonymous true\n")
            + "persistence true\n"
            f"persistence_location {folder}/\n"
            # Save on every change, so a SIGKILLed broker keeps its persistent sessions.
            "autosave_interval 1\n"
            "autosave_on_changes true\n"
            "max_queued_messages 100000\n"
            # The gateway acknowledges a message only once stored (tens of ms): allow many in flight.
            f"max_inflight_messages {max_inflight}\n"
            "user root\n"
            f"log_dest file {folder}/mosquitto.log\n"
        )

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        assert self.proc is None, "already running"
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            log = (self.folder / "mosquitto.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"mosquitto did not start:\n{log}") from None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        stop_process(self.proc, sig=sig)
        self.proc = None


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def smartsite_command() -> list[str]:
    """The ``smartsite`` command, run by the interpreter that runs the tests."""
    return [sys.executable, "-m", "smartsite.cli"]
