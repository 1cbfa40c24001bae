"""The real `smartsite` command as a process: run, stop by signal, demo, last will."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.integration.site_helpers import SITE_YAML
from tests.support import Mosquitto, eventually, free_port, project_root, smartsite_command, wait_for_port

pytestmark = pytest.mark.integration


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        return json.load(response)


def write_site(tmp_path: Path, broker: Mosquitto, api_port: int) -> Path:
    text = SITE_YAML.format(input_url=broker.url, db="gw.db", uplink="") + f"api: {{port: {api_port}}}\n"
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_stops_cleanly_on_signal(mosquitto: Mosquitto, tmp_path: Path, sig: int) -> None:
    api_port = free_port()
    site = write_site(tmp_path, mosquitto, api_port)
    proc = subprocess.Popen([*smartsite_command(), "run", "--config", str(site)], stderr=subprocess.PIPE)
    try:
        wait_for_port(api_port, 20)
        assert get_json(f"http://127.0.0.1:{api_port}/api/v1/health")["site"] == "t1"
        asked = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(timeout=10)
        assert time.monotonic() - asked < 5.0
        assert code == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    assert (tmp_path / "gw.db").exists()


async def test_killed_gateway_leaves_offline_status(mosquitto: Mosquitto, tmp_path: Path) -> None:
    api_port = free_port()
    site = write_site(tmp_path, mosquitto, api_port)
    proc = subprocess.Popen([*smartsite_command(), "run", "--config", str(site)], stderr=subprocess.DEVNULL)
    try:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as watcher:
            await watcher.subscribe("smartsite/t1/status", qos=1)
            statuses: list[bytes] = []

            async def status_is(value: bytes) -> bool:
                message = await anext(aiter(watcher.messages))
                statuses.append(message.payload)  # type: ignore[arg-type]
                return message.payload == value

            await eventually(lambda: status_is(b"online"), 20, "online status")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            # The broker notices the dead TCP connection at once and publishes the will.
            await eventually(lambda: status_is(b"offline"), 10, "offline will")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_demo_serves_alarms_and_stops_by_itself(tmp_path: Path) -> None:
    port = free_port()
    # At 6x the demo's gust (first minute) is raised, held for its rule's 60 s dwell and cleared
    # well within the 30 s the demo runs.
    proc = subprocess.Popen(
        [*smartsite_command(), "demo", "--port", str(port), "--duration", "30", "--speed", "6"],
        stderr=subprocess.DEVNULL,
        cwd=project_root(),
    )
    try:
        started = time.monotonic()
        wait_for_port(port, 60)
        base = f"http://127.0.0.1:{port}/api/v1"
        assert get_json(f"{base}/health")["status"] == "ok"
        channels = {c["id"]: c for c in get_json(f"{base}/channels")}
        expected = {"crane1.load", "crane1.radius", "crane1.moment_ratio", "anemo1.wind_speed"}
        expected |= {f"fw1.S{i}.settlement" for i in range(1, 5)} | {f"pit.P{i}.disp_h" for i in range(1, 5)}
        assert expected <= set(channels)  # and the computed ones: crane ratios, wind means
        # Fresh readings on every channel; changing values where the quantity moves within seconds
        # (a pit wall creeps by less than the gauge's resolution in half a minute).
        seen: dict[str, set[tuple[float, str]]] = {cid: set() for cid in expected}
        fast = {cid for cid in expected if not cid.startswith("pit.")}

        def all_fresh() -> bool:
            return all(len(v) > 1 for v in seen.values()) and all(
                len({x for x, _ in seen[c]}) > 1 for c in fast
            )

        cleared = []
        while time.monotonic() - started < 28 and not (cleared and all_fresh()):
            for channel in get_json(f"{base}/channels"):
                if channel["id"] in seen and channel["value"] is not None:
                    seen[channel["id"]].add((channel["value"], channel["ts"]))
            cleared = [a for a in get_json(f"{base}/alarms") if a["state"] == "cleared"]
            time.sleep(0.5)
        assert all_fresh(), {k: v for k, v in seen.items() if len(v) < 2}
        assert cleared, "an alarm was raised and cleared"
        assert cleared[0]["max_grade"] >= 1 and cleared[0]["active"] is False
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
        assert "<title>smartsite</title>" in page
        assert proc.wait(timeout=40) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_check_config_command_on_example() -> None:
    example = project_root() / "examples" / "site.yaml"
    result = subprocess.run(
        [*smartsite_command(), "check-config", str(example)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
