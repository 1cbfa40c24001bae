"""systemd notify: READY once serving, the watchdog pinged only while the runtime is alive, STOPPING."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway.process.supervisor import TaskHealth
from gateway.process.systemd_notify import Notifier
from gateway.runtime import TICK_PERIOD_S
from smartsite.serve import STALLED_AFTER_TICKS, is_alive
from tests.integration.site_helpers import SITE_YAML
from tests.support import Mosquitto, free_port, smartsite_command, wait_for_port


def _datagrams(sock: socket.socket, until: str, deadline_s: float) -> list[str]:
    got: list[str] = []
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        sock.settimeout(max(0.05, end - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if until in got[-1]:
            return got
    raise AssertionError(f"no {until!r} within {deadline_s} s; got {got}")


def test_notifier_does_nothing_without_systemd() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.watchdog_s is None
    assert notifier.send("READY=1") is False


def test_watchdog_for_another_process_is_ignored() -> None:
    assert Notifier({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}).watchdog_s is None
    mine = Notifier({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())})
    assert mine.watchdog_s == 2.0
    assert Notifier({"WATCHDOG_USEC": "junk"}).watchdog_s is None


def test_abstract_socket_address(tmp_path: Path) -> None:
    name = f"smartsite-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).send("READY=1", "STATUS=x")
        server.settimeout(2)
        assert server.recv(100) == b"READY=1\nSTATUS=x"


def test_unreachable_socket_is_reported_not_raised(tmp_path: Path) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert notifier.send("WATCHDOG=1") is False
    assert notifier.send("WATCHDOG=1") is False  # and logged once only


def _runtime(last_tick: float | None, started: float | None, analytics_failing: bool = False) -> object:
    health = {"analytics": TaskHealth("analytics", failing=analytics_failing)}
    return SimpleNamespace(
        pipeline=SimpleNamespace(last_tick_monotonic=last_tick),
        started_monotonic=started,
        task_health=health,
    )


def test_alive_only_while_the_clock_ticks_and_analytics_work() -> None:
    now = time.monotonic()
    stalled = now - STALLED_AFTER_TICKS * TICK_PERIOD_S - 1
    assert is_alive(_runtime(now, now - 100))  # type: ignore[arg-type]
    assert not is_alive(_runtime(stalled, now - 100))  # type: ignore[arg-type]
    assert is_alive(_runtime(None, now))  # type: ignore[arg-type]  # just started, no tick yet
    assert not is_alive(_runtime(None, stalled))  # type: ignore[arg-type]  # never ticked
    assert not is_alive(_runtime(now, now, analytics_failing=True))  # type: ignore[arg-type]


@pytest.mark.integration
def test_gateway_says_ready_pings_and_says_stopping(mosquitto: Mosquitto, tmp_path: Path) -> None:
    api_port = free_port()
    site = tmp_path / "site.yaml"
    site.write_text(
        SITE_YAML.format(input_url=mosquitto.url, db="gw.db", uplink="") + f"api: {{port: {api_port}}}\n"
    )
    address = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(address))
        env = {**os.environ, "NOTIFY_SOCKET": str(address), "WATCHDOG_USEC": "1000000"}
        proc = subprocess.Popen(
            [*smartsite_command(), "run", "--config", str(site)], env=env, stderr=subprocess.DEVNULL
        )
        try:
            ready = _datagrams(server, "READY=1", 30)
            wait_for_port(api_port, 10)
            pings = 0
            end = time.monotonic() + 10
            while pings < 3 and time.monotonic() < end:  # a ping every 0.5 s
                pings += sum("WATCHDOG=1" in d for d in _datagrams(server, "WATCHDOG=1", 5))
            assert pings >= 3
            proc.send_signal(signal.SIGTERM)
            stopping = _datagrams(server, "STOPPING=1", 10)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert any("STATUS=site t1 serving" in d for d in ready)
    assert any("draining" in d for d in stopping)


def test_a_reload_says_reloading_then_ready_applied_or_refused(mosquitto: Mosquitto, tmp_path: Path) -> None:
    api_port = free_port()
    site = tmp_path / "site.yaml"
    text = SITE_YAML.format(input_url=mosquitto.url, db="gw.db", uplink="") + f"api: {{port: {api_port}}}\n"
    site.write_text(text)
    address = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(address))
        env = {**os.environ, "NOTIFY_SOCKET": str(address)}
        proc = subprocess.Popen(
            [*smartsite_command(), "run", "--config", str(site)], env=env, stderr=subprocess.DEVNULL
        )
        try:
            _datagrams(server, "READY=1", 30)
            site.write_text(text.replace("site: {id: t1", "site: {id: t1, name: renamed", 1))
            proc.send_signal(signal.SIGHUP)
            applied = _datagrams(server, "READY=1", 30)
            site.write_text(text + "unknown_top_level_key: 1\n")
            proc.send_signal(signal.SIGHUP)
            refused = _datagrams(server, "READY=1", 30)
            assert proc.poll() is None  # still running after the refusal
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert "RELOADING=1" in applied[0] and "MONOTONIC_USEC=" in applied[0]
    assert any("STATUS=applying the changed site file" in d for d in applied)
    assert any("STATUS=site t1 serving" in d for d in applied[1:])
    assert "RELOADING=1" in refused[0]
    assert any("STATUS=reload refused (1 problem(s))" in d for d in refused)
