"""SIGKILL in the middle of an outage, then a new process delivers: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support import eventually

ROOT = Path(__file__).resolve().parents[3]


class Receiver:
    """A webhook receiver that accepts ``accept`` messages, then answers 503 until told otherwise."""

    def __init__(self) -> None:
        self.accept: int | None = None
        self.accepted: list[list[str]] = []
        self.refused = 0
        self.lock = threading.Lock()

    def ids(self) -> Counter[str]:
        with self.lock:
            return Counter(i for ids in self.accepted for i in ids)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                ok = state.accept is None or len(state.accepted) < state.accept
                if ok:
                    state.accepted.append(body["ids"])
                else:
                    state.refused += 1
            self.send_response(200 if ok else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def gateway(db: Path, url: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.gateway.outbox.push_proc", str(db), url, str(count)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.integration
async def test_a_killed_gateway_leaves_nothing_behind_and_sends_nothing_twice(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    db = tmp_path / "outbox.db"
    state.accept = 2  # two messages of ten get through, then the receiver goes down
    first = gateway(db, url, 50)
    try:
        assert first.stdout is not None
        assert first.stdout.readline().strip() == "enqueued"
        await eventually(lambda: state.refused >= 3, 20.0, "the receiver to refuse a few retries")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert first.returncode == -signal.SIGKILL
    assert sum(state.ids().values()) == 20

    state.accept = None  # the receiver is back
    second = gateway(db, url, 0)
    try:
        await eventually(lambda: len(state.ids()) == 50, 20.0, "every notice")
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait(10)
    assert state.ids() == {f"n{i}": 1 for i in range(50)}
