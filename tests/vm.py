"""A private VictoriaMetrics on a free loopback port: the real line-protocol server for the tests.

Debian's InfluxDB (1.6) has no ``/api/v2/write``; VictoriaMetrics accepts it and stores
``<measurement>_<field>`` series that ``/api/v1/export`` reads back exactly (values and ms timestamps).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port, stop_process

_NON_FINITE = re.compile(r"(?<=[\[,])([+-]Inf|NaN)(?=[,\]])")

VICTORIA_METRICS = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"


def require_victoria_metrics() -> str:
    """The binary's path; skips the test when it is missing here, fails when it is missing in CI."""
    if Path(VICTORIA_METRICS).is_file():
        return VICTORIA_METRICS
    message = f"victoria-metrics not found at {VICTORIA_METRICS} (scripts/test installs it with apt)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class VictoriaMetrics:
    """One victoria-metrics process with its own data folder; ``stop`` then ``start`` keeps port and data."""

    def __init__(self, folder: Path, port: int | None = None, dedup: bool = True) -> None:
        self.binary = require_victoria_metrics()
        self.folder = folder
        self.port = port or free_port()
        self.dedup = dedup
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = folder / "victoria-metrics.log"
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        args = [
            self.binary,
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.folder / 'data'}",
            "-retentionPeriod=100y",
            # Without it the newest 30 s of samples are invisible to export and queries.
            "-search.latencyOffset=0s",
            "-loggerLevel=WARN",
        ]
        if self.dedup:
            # A sample sent twice (a retried request) collapses into one per series and timestamp.
            args.append("-dedup.minScrapeInterval=1ms")
        return args

    def __enter__(self) -> VictoriaMetrics:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, deadline_s: float = 20.0) -> None:
        assert self.proc is None, "already running"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise RuntimeError(f"victoria-metrics exited with {code}:\n{self.log_tail()}")
            if self._healthy():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"victoria-metrics not healthy after {deadline_s} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Terminate and reap the process (an unreaped child stays a zombie here)."""
        if self.proc is None:
            return
        stop_process(self.proc, timeout=15)
        self.proc = None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def flush(self) -> None:
        """Make every row received so far searchable (version 1.79 waits about 10 s otherwise)."""
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10) as response:
            assert response.status == 200, response.status

    def export(self, match: str) -> list[dict[str, Any]]:
        """Every series matching the selector, as ``/api/v1/export`` gives them (one dict per series)."""
        self.flush()
        query = urllib.parse.urlencode({"match[]": match})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=10) as response:
            body = response.read().decode()
        # VictoriaMetrics writes non-finite samples as bare +Inf, -Inf and NaN, which JSON lacks.
        return [
            json.loads(_NON_FINITE.sub(r'"\1"', line), object_hook=_floats)
            for line in body.splitlines()
            if line.strip()
        ]

    def write(self, lines: list[str]) -> None:
        """Post line protocol (ms timestamps) straight to ``/api/v2/write``, bypassing the gateway.

        VictoriaMetrics answers 204 even when it skips a line it cannot parse (it only logs it), so
        a caller checks what arrived with ``export``.
        """
        request = urllib.request.Request(
            f"{self.url}/api/v2/write?precision=ms", data="\n".join(lines).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 204, response.status

    def samples(self, match: str) -> int:
        return sum(len(series["values"]) for series in self.export(match))

    def wait_for_points(self, match: str, n: int, deadline_s: float = 15.0) -> list[dict[str, Any]]:
        """Poll the export until at least ``n`` samples match; new series take a second or so to show."""
        end = time.monotonic() + deadline_s
        while True:
            series = self.export(match)
            count = sum(len(s["values"]) for s in series)
            if count >= n:
                return series
            if time.monotonic() > end:
                raise AssertionError(
                    f"{count} of {n} samples for {match} after {deadline_s} s:\n"
                    f"{json.dumps(series)[:2000]}\n{self.log_tail(1000)}"
                )
            time.sleep(0.1)

    async def wait_for_points_async(
        self, match: str, n: int, deadline_s: float = 15.0
    ) -> list[dict[str, Any]]:
        """``wait_for_points`` for async tests: other tasks (a forwarder, a server) keep running."""
        end = time.monotonic() + deadline_s
        while True:
            series = await asyncio.to_thread(self.export, match)
            if sum(len(s["values"]) for s in series) >= n:
                return series
            if time.monotonic() > end:
                return await asyncio.to_thread(self.wait_for_points, match, n, 0.0)
            await asyncio.sleep(0.1)


def _floats(series: dict[str, Any]) -> dict[str, Any]:
    if isinstance(series.get("values"), list):
        series["values"] = [float(v) if isinstance(v, str) else v for v in series["values"]]
    return series
