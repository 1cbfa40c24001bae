"""A relay between two pseudo-terminals that gives them the timing of a real serial line.

Pseudo-terminals ignore the baud rate: bytes written to one end arrive at the other at once, so a
Modbus bus on a bare pty pair answers thousands of reads a second. :class:`SerialRelay` owns two pty
pairs (``os.openpty``): the master (gateway) opens :attr:`SerialRelay.client_port`, the slaves open
:attr:`SerialRelay.device_port`, and a thread copies bytes between the two masters as a UART would
put them on the wire: each byte takes 10 bit-times (8N1: start, 8 data, stop) and is handed over
when its last bit has arrived, one byte after another, so neither direction ever runs faster than
``baud / 10`` bytes/s. Optional noise flips bytes on the wire (probability ``noise`` per byte,
seeded), for CRC tests.

Use::

    with SerialRelay(9600) as relay:
        client = AsyncModbusSerialClient(relay.client_port, baudrate=9600)
        async with SlaveBus(relay.device_port, units=...): ...

The relay is bounded: at most ``max_backlog`` bytes wait per direction (more are dropped and
counted, as a real line would lose them), and :meth:`stop` ends the thread and closes the ptys.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import selectors
import threading
import time
import tty
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit


def byte_time(baud: int, bits: int = BITS_PER_BYTE) -> float:
    """Seconds one byte takes on the wire (9600 baud: 1.0417 ms)."""
    return bits / baud


@dataclass(slots=True)
class Direction:
    """One direction of the line: bytes waiting with the time each finishes arriving."""

    name: str
    src: int
    dst: int
    due: deque[tuple[float, int]] = field(default_factory=deque)
    wire_free: float = 0.0  # when the last queued byte finishes on the wire
    bytes_in: int = 0
    bytes_out: int = 0
    flipped: int = 0
    dropped: int = 0

    def next_due(self) -> float | None:
        return self.due[0][0] if self.due else None


class SerialRelay:
    """Two pseudo-terminals joined by a simulated serial line (see the module docstring).

    ``client_port`` and ``device_port`` are pty paths (``/dev/pts/N``); pass ``client_link`` /
    ``device_link`` to also get stable symlinks. ``noise`` may be changed while running.
    """

    def __init__(
        self,
        baud: int = 9600,
        *,
        noise: float = 0.0,
        seed: int = 0,
        bits_per_byte: int = BITS_PER_BYTE,
        max_backlog: int = 65536,
        client_link: str | Path | None = None,
        device_link: str | Path | None = None,
    ) -> None:
        if baud <= 0:
            raise ValueError("baud must be positive")
        if not 0.0 <= noise <= 1.0:
            raise ValueError("noise is a probability in [0, 1]")
        self.baud = baud
        self.byte_s = byte_time(baud, bits_per_byte)
        self.noise = noise
        self.max_backlog = max_backlog
        self._rng = random.Random(seed)
        self._links = [Path(p) for p in (client_link, device_link) if p is not None]
        self._client_link = Path(client_link) if client_link is not None else None
        self._device_link = Path(device_link) if device_link is not None else None
        self._fds: list[int] = []
        self._thread: threading.Thread | None = None
        self._stop_r = self._stop_w = -1
        self._stopping = threading.Event()
        self.client_port = ""
        self.device_port = ""
        self.to_device: Direction | None = None
        self.to_client: Direction | None = None
        self.error: BaseException | None = None

    # lifecycle

    def start(self) -> SerialRelay:
        if self._thread is not None:
            raise RuntimeError("relay already started")
        c_master, c_slave = os.openpty()
        d_master, d_slave = os.openpty()
        self._fds = [c_master, c_slave, d_master, d_slave]
        for fd in (c_slave, d_slave):
            tty.setraw(fd)  # no echo, no line discipline before the user opens the port
        for fd in (c_master, d_master):
            os.set_blocking(fd, False)
        self.client_port = os.ttyname(c_slave)
        self.device_port = os.ttyname(d_slave)
        for link, target in ((self._client_link, self.client_port), (self._device_link, self.device_port)):
            if link is not None:
                with contextlib.suppress(FileNotFoundError):
                    link.unlink()
                link.symlink_to(target)
        self.to_device = Direction("to_device", c_master, d_master)
        self.to_client = Direction("to_client", d_master, c_master)
        self._stop_r, self._stop_w = os.pipe()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"serial-relay-{self.baud}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"x")
        self._thread.join(timeout)
        self._thread = None
        for fd in (*self._fds, self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
        self._stop_r = self._stop_w = -1
        for link in self._links:
            with contextlib.suppress(OSError):
                if link.is_symlink():
                    link.unlink()

    def __enter__(self) -> SerialRelay:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def counters(self) -> dict[str, dict[str, int]]:
        """Bytes in and out, flipped and dropped, per direction."""
        out: dict[str, dict[str, int]] = {}
        for d in (self.to_device, self.to_client):
            if d is not None:
                out[d.name] = {
                    "bytes_in": d.bytes_in,
                    "bytes_out": d.bytes_out,
                    "flipped": d.flipped,
                    "dropped": d.dropped,
                }
        return out

    # the line

    def _run(self) -> None:
        assert self.to_device is not None and self.to_client is not None
        directions = (self.to_device, self.to_client)
        sel = selectors.SelectSelector()  # microsecond timeouts (epoll and poll round up to 1 ms)
        try:
            for d in directions:
                sel.register(d.src, selectors.EVENT_READ, d)
            sel.register(self._stop_r, selectors.EVENT_READ, None)
            while not self._stopping.is_set():
                dues = [t for t in (d.next_due() for d in directions) if t is not None]
                timeout = max(0.0, min(dues) - time.monotonic()) if dues else None
                for key, _ in sel.select(timeout):
                    if key.data is None:
                        return
                    self._take(key.data)
                now = time.monotonic()
                for d in directions:
                    self._deliver(d, now)
        except BaseException as exc:  # pragma: no cover - reported to the owner, never swallowed
            self.error = exc
            raise
        finally:
            sel.close()

    def _take(self, d: Direction) -> None:
        """Read what the sender wrote and schedule each byte at the line's rate."""
        try:
            data = os.read(d.src, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:  # no one has the slave open: nothing was sent
                time.sleep(0.001)
                return
            raise
        now = time.monotonic()
        d.bytes_in += len(data)
        d.wire_free = max(d.wire_free, now)  # an idle line starts the next byte at once
        noise = self.noise
        for byte in data:
            if len(d.due) >= self.max_backlog:
                d.dropped += 1
                continue
            if noise and self._rng.random() < noise:
                byte ^= self._rng.randrange(1, 256)
                d.flipped += 1
            d.wire_free += self.byte_s
            d.due.append((d.wire_free, byte))

    def _deliver(self, d: Direction, now: float) -> None:
        """Hand over every byte whose last bit has arrived."""
        if not d.due or d.due[0][0] > now:
            return
        ready = bytearray()
        while d.due and d.due[0][0] <= now:
            ready.append(d.due.popleft()[1])
        try:
            written = os.write(d.dst, ready)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            written = 0
        d.bytes_out += written
        d.dropped += len(ready) - written  # the receiver's buffer is full: the bytes are lost


__all__ = ["BITS_PER_BYTE", "SerialRelay", "byte_time"]
