"""``smartsite backup`` / ``restore`` against a running gateway's real stores, and the site lock."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.process.instance_lock import InstanceLock, InstanceLockedError
from tests.integration.site_helpers import SITE_YAML, reading
from tests.support import Mosquitto, eventually, free_port, smartsite_command, stop_process, wait_for_port

pytestmark = pytest.mark.integration

HOLD_LOCK = (
    "import fcntl, os, time; fd = os.open('{path}', os.O_RDWR | os.O_CREAT); "
    "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'4242'); print('locked', flush=True); time.sleep(60)"
)


def _site(tmp_path: Path, broker: Mosquitto, site_id: str = "t1") -> Path:
    text = SITE_YAML.format(input_url=broker.url, db="gw.db", uplink="").replace("id: t1", f"id: {site_id}")
    path = tmp_path / f"{site_id}.yaml"
    path.write_text(text + f"api: {{port: {free_port()}}}\n")
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*smartsite_command(), *args], capture_output=True, text=True, timeout=60)


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: dict[str, Any] = json.load(response)
        return body


def _readings(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])


@pytest.fixture
def gateway(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    site = _site(tmp_path, mosquitto)
    port = int(site.read_text().rsplit("port: ", 1)[1].split("}")[0])
    proc = subprocess.Popen([*smartsite_command(), "run", "--config", str(site)], stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 30)
        health = f"http://127.0.0.1:{port}/api/v1/health"
        deadline = time.monotonic() + 20
        while not all(
            s["connected"] for s in json.load(urllib.request.urlopen(health, timeout=5))["sources"]
        ):
            assert time.monotonic() < deadline, "the gateway's MQTT input never connected"
            time.sleep(0.1)
        yield site, proc
    finally:
        stop_process(proc)


async def test_backup_while_running_then_restore_after_stop(
    gateway: tuple[Path, subprocess.Popen[bytes]], mosquitto: Mosquitto, tmp_path: Path
) -> None:
    site, proc = gateway
    db = tmp_path / "gw.db"
    start = int(time.time()) - 60  # device stamps near the gateway's clock (ahead ones are refused)
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        for i in range(50):
            await client.publish("smartsite/t1/devices/anemo1/up", reading(3.0 + i * 0.01, start + i), qos=1)
    await eventually(lambda: db.exists() and _readings(db) == 50, 20, "50 readings stored")

    # A second gateway on the same stores is refused: it would judge and push everything twice.
    second = _cli("run", "--config", str(site))
    assert second.returncode == 1
    assert "another gateway" in second.stderr

    done = _cli("backup", "--config", str(site), str(tmp_path / "bk"))
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
    assert manifest["site"] == "t1" and set(manifest["files"]) == {"alarms", "readings"}
    assert _readings(tmp_path / "bk" / "readings.db") == 50
    assert not (tmp_path / "bk" / "readings.db-wal").exists()  # one self-contained file
    with sqlite3.connect(tmp_path / "bk" / "alarms.db") as conn:  # records, audit, baselines: one file
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"alarms", "audit", "baselines", "baseline_audit"} <= tables

    again = _cli("backup", "--config", str(site), str(tmp_path / "bk"))
    assert again.returncode == 1 and "never overwrites" in again.stderr

    refused = _cli("restore", "--config", str(site), str(tmp_path / "bk"))
    assert refused.returncode == 1 and "stop the gateway" in refused.stderr

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    with sqlite3.connect(db) as conn:  # what happened after the backup: the restore takes it back
        conn.execute("DELETE FROM readings")
    assert _readings(db) == 0
    restored = _cli("restore", "--config", str(site), str(tmp_path / "bk"))
    assert restored.returncode == 0, restored.stderr
    assert _readings(db) == 50
    kept = sorted(Path(tmp_path).parent.glob(f"{tmp_path.name}/gw.db.before-restore-*"))
    assert kept and _readings(kept[0]) == 0  # the replaced file is kept, not lost


def test_restore_refuses_damaged_foreign_and_unfinished_backups(mosquitto: Mosquitto, tmp_path: Path) -> None:
    site = _site(tmp_path, mosquitto)
    db = tmp_path / "gw.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE readings (x)")
        conn.execute("INSERT INTO readings VALUES (1)")
    assert _cli("backup", "--config", str(site), str(tmp_path / "bk")).returncode == 0

    other = _site(tmp_path, mosquitto, site_id="t2")
    foreign = _cli("restore", "--config", str(other), str(tmp_path / "bk"))
    assert foreign.returncode == 1 and "not 't2'" in foreign.stderr

    copy = tmp_path / "bk" / "readings.db"
    data = bytearray(copy.read_bytes())
    data[200] ^= 0xFF
    copy.write_bytes(bytes(data))
    damaged = _cli("restore", "--config", str(site), str(tmp_path / "bk"))
    assert damaged.returncode == 1 and "checksum" in damaged.stderr
    assert _readings(db) == 1  # nothing was touched

    (tmp_path / "empty").mkdir()
    unfinished = _cli("restore", "--config", str(site), str(tmp_path / "empty"))
    assert unfinished.returncode == 1 and "manifest.json" in unfinished.stderr

    (tmp_path / "new").mkdir()
    nothing = _cli("backup", "--config", str(_site(tmp_path / "new", mosquitto)), str(tmp_path / "bk2"))
    assert nothing.returncode == 1 and "nothing to back up" in nothing.stderr


def test_lock_is_released_when_its_holder_dies(tmp_path: Path) -> None:
    path = tmp_path / "alarms.db.lock"
    holder = subprocess.Popen(
        ["python3", "-c", HOLD_LOCK.format(path=path)],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        with pytest.raises(InstanceLockedError, match="pid 4242"):
            InstanceLock(path).acquire()
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 5
    with InstanceLock(path):  # a SIGKILLed holder leaves the file but not the lock
        assert time.monotonic() < deadline
