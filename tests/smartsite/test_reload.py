"""SIGHUP reloads the site file of a running gateway process: applied without losing a reading or
an alarm's record, or refused with check-config's errors while the gateway goes on as it was."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import parse_config
from gateway.vocab import ConfigError
from smartsite.reload import load_checked, needs_restart
from tests.faults.harness import GatewayProcess, SensorLoad, published_keys, site_yaml, stored_keys
from tests.support import Mosquitto, eventually, free_port

# s1.q0 reads 1.0 and up (tests.faults.harness.SensorLoad.value): a red limit of 0.5 raises at once.
NEW_RULE = """  - id: s1_q0_red
    type: threshold
    channels: [s1.q0]
    upper: {red: 0.5}
"""


def with_new_rule(text: str) -> str:
    return text.replace("sinks:\n", NEW_RULE + "sinks:\n", 1)


def test_what_a_reload_cannot_apply_is_named(tmp_path: Path) -> None:
    base = site_yaml(1883, 8081, tmp_path / "store.db")
    running = parse_config(base)
    assert needs_restart(running, parse_config(with_new_rule(base)), tmp_path) == []
    moved = needs_restart(running, parse_config(base.replace("port: 8081", "port: 8082")), tmp_path)
    assert len(moved) == 1 and "api.bind/api.port changed" in moved[0] and "8082" in moved[0]


def test_a_bad_file_is_refused_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(
        with_new_rule(site_yaml(1883, 8081, tmp_path / "store.db")).replace("red: 0.5", "rde: 0.5")
    )
    with pytest.raises(ConfigError) as refused:
        load_checked(path)
    assert any("rde" in line and "site.yaml:" in line for line in refused.value.problems)


async def _alarms(port: int) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=2.0) as client:
        answer = await client.get(f"http://127.0.0.1:{port}/api/v1/alarms")
    answer.raise_for_status()
    body = answer.json()
    return list(body["alarms"] if isinstance(body, dict) else body)


@pytest.mark.integration
@pytest.mark.timeout(300)
async def test_sighup_applies_a_changed_file_and_refuses_a_bad_one_under_load(
    mosquitto_factory: type, tmp_path: Path
) -> None:
    sensors: Mosquitto = mosquitto_factory.new("sensors")  # type: ignore[attr-defined]
    api_port = free_port()
    db = tmp_path / "store.db"
    base = site_yaml(sensors.port, api_port, db)
    gateway = GatewayProcess(tmp_path, base, api_port)
    gateway.start()
    load = SensorLoad(sensors.port)
    try:

        async def serving() -> bool:
            health = await gateway.health()
            return bool(health and all(s["connected"] for s in health["sources"]))

        await eventually(serving, 30, "gateway up and subscribed")
        loading = asyncio.create_task(load.run(duration_s=60))
        await asyncio.sleep(2)
        assert gateway.proc is not None
        pid = gateway.proc.pid

        # 1. A new rule: applied, the process stays the same, the alarm is raised under the new rule.
        gateway.config.write_text(with_new_rule(base))
        gateway.proc.send_signal(signal.SIGHUP)

        async def new_rule_alarm() -> list[dict[str, Any]]:
            try:
                found = await _alarms(api_port)
            except httpx.HTTPError:
                return []
            return [a for a in found if a["rule"] == "s1_q0_red"]

        (raised,) = await eventually(new_rule_alarm, 30, "the reloaded rule's alarm")
        assert "site file reloaded" in gateway.log_tail(20_000)

        # 2. A bad file: refused with check-config's words, nothing changes, the alarm goes on.
        gateway.config.write_text(with_new_rule(base).replace("red: 0.5", "rde: 0.5"))
        gateway.proc.send_signal(signal.SIGHUP)
        await eventually(lambda: "reload refused" in gateway.log_tail(20_000), 15, "the refusal in the log")
        assert "rde" in gateway.log_tail(20_000)
        # 3. A changed port: refused, it needs a restart.
        gateway.config.write_text(with_new_rule(base).replace(f"port: {api_port}", f"port: {api_port + 1}"))
        gateway.proc.send_signal(signal.SIGHUP)
        await eventually(
            lambda: "api.bind/api.port changed" in gateway.log_tail(20_000), 15, "the port refusal in the log"
        )
        health = await gateway.health()
        assert health is not None and health["status"] == "ok"
        # 4. The same file again: nothing to do.
        gateway.config.write_text(with_new_rule(base))
        gateway.proc.send_signal(signal.SIGHUP)
        await eventually(lambda: "unchanged, nothing to do" in gateway.log_tail(20_000), 15, "unchanged")

        await asyncio.sleep(2)
        load.stop()
        await loading
        # Every reading the broker took is stored, across the reload's restart of the runtime.
        published = published_keys(load)
        await eventually(lambda: published <= stored_keys(db), 30, "every published reading stored")
        # The alarm raised before the refused reloads is still the one record, still active.
        records = await new_rule_alarm()
        assert [r["id"] for r in records] == [raised["id"]]
        assert records[0]["active"] is True
        assert gateway.proc.pid == pid and gateway.proc.poll() is None  # one process throughout
    finally:
        load.stop()
        gateway.stop()
