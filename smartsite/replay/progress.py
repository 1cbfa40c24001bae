"""Progress of a long replay on stderr: a bar on a terminal, a plain line now and then otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 30


class Progress:
    """Call ``update(done, total, readings)`` as work goes; ``close()`` at the end.

    On a terminal the bar is redrawn at most 10 times a second. Elsewhere (a log file, a pipe) a
    plain line is written every ``every_s`` seconds, and nothing at all for a run shorter than that.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool = True,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.enabled = enabled
        self.tty = enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s = 0.1 if self.tty else every_s
        self.started = clock()
        self._last = self.started
        self._drawn = False

    def update(self, done: int, total: int, readings: int) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if now - self._last < self.every_s:
            return
        self._last = now
        elapsed = max(now - self.started, 1e-9)
        share = done / total if total else 0.0
        rate = readings / elapsed
        eta = elapsed * (1 - share) / share if share > 0 else float("nan")
        if self.tty:
            filled = int(BAR_WIDTH * share)
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self.stream.write(
                f"\r[{bar}] {share:6.1%} {readings:,} readings {rate / 1e6:.2f} M/s eta {eta:.0f} s "
            )
            self._drawn = True
        else:
            self.stream.write(
                f"replay: {share:.1%} of input, {readings:,} readings, {rate / 1e6:.2f} M/s, "
                f"eta {eta:.0f} s\n"
            )
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
