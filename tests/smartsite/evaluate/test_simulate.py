"""``smartsite simulate``: the scenario's devices alone, on the real protocols.

MQTT: the CLI against a real mosquitto publishes every frame of a short scenario on the contract's
topics, then stops by itself. Modbus: the player's slaves, read by the real gateway's Modbus hub,
show the frames' values in the register layout of the site file, and act out the line faults.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.config import load_config, parse_config
from gateway.config.modbus import ModbusDeviceConfig
from gateway.vocab import Quality
from simulators.generate import readings
from simulators.publish import ModbusPlayer, mqtt_payload, register_words
from simulators.scenario import load_scenario
from tests.integration.site_helpers import running
from tests.support import Mosquitto, eventually, project_root

pytestmark = pytest.mark.integration

TINY = """
name: tiny
seed: 5
duration_s: 8
devices:
  anemo1: {model: anemometer, params: {mean: 6.0}}
events:
  - {kind: offline, device: pit.P2, at_s: 0, until_s: 8}
truth: []
"""


@pytest.mark.timeout(60)
async def test_simulate_publishes_every_frame_then_stops(mosquitto: Mosquitto, tmp_path: Path) -> None:
    scenario_file = tmp_path / "tiny.yaml"
    scenario_file.write_text(TINY)
    site_file = project_root() / "examples" / "site.yaml"
    site = load_config(site_file)
    frames = list(readings(load_scenario(scenario_file, site), site))
    # The site's MQTT devices publish; its Modbus devices are served as slaves instead.
    mqtt_devices = {d.id for d in site.devices if d.type == "mqtt"}
    expected: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in frames:
        body = mqtt_payload(0.0, f.values, f.fault)
        if body is not None and f.device in mqtt_devices:
            expected[f.device].append(json.loads(body)["values"])
    assert "pit.P2" not in expected and len(expected) == len(mqtt_devices) - 1

    got: dict[str, list[dict[str, Any]]] = defaultdict(list)
    stamps: dict[str, list[float]] = defaultdict(list)
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="test-sim-listener") as client:
        await client.subscribe("smartsite/demo/devices/+/up", qos=1)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "smartsite.cli",
            "simulate",
            "--config",
            str(site_file),
            "--scenario",
            str(scenario_file),
            "--mqtt",
            mosquitto.url,
            "--speed",
            "4",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=project_root(),
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        assert f"simulate: mqtt: {len(mqtt_devices)} devices publishing to mqtt://127.0.0.1" in out.decode()
        assert "simulate: modbus bus rs485-1: socket://127.0.0.1:" in out.decode()
        assert "done:" in out.decode()
        total = sum(len(v) for v in expected.values())

        async def take() -> None:
            async for message in client.messages:
                device = str(message.topic).split("/")[-2]
                assert isinstance(message.payload, bytes)
                doc = json.loads(message.payload)
                got[device].append(doc["values"])
                stamps[device].append(doc["ts"])
                if sum(len(v) for v in got.values()) >= total:
                    return

        await asyncio.wait_for(take(), 10)
    assert dict(got) == dict(expected)
    # Data times: the start + scenario time, whatever the speed.
    crane_t = [f.t_s for f in frames if f.device == "crane1"]
    offsets = [ts - t for ts, t in zip(stamps["crane1"], crane_t, strict=True)]
    assert max(offsets) - min(offsets) < 0.002


def test_simulate_bad_scenario_names_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from smartsite.cli import main

    bad = tmp_path / "tiny.yaml"
    bad.write_text(TINY.replace("device: pit.P2", "device: pit.P9"))
    code = main(["simulate", "--config", str(project_root() / "examples/site.yaml"), "--scenario", str(bad)])
    assert code == 1
    err = capsys.readouterr().err
    assert f"{bad}:" in err and "events[0].device" in err


MODBUS_SITE = """
site: {{id: mb}}
buses:
  - {{id: line1, type: serial, port: "{port}", baudrate: 19200}}
devices:
  - {{id: anemo1, type: modbus, bus: line1, unit: 1, profile: anemometer_rs485, poll_s: 0.2, timeout_s: 0.1}}
  - {{id: fw1.S1, type: modbus, bus: line1, unit: 2, profile: settlement_reader, poll_s: 0.2,
      timeout_s: 0.1}}
  - id: crane1
    type: modbus
    bus: line1
    unit: 3
    poll_s: 0.2
    timeout_s: 0.1
    registers:
      load: {{function: input, address: 10, type: int32, scale: 0.001, word_order: little, unit: t}}
      radius: {{function: holding, address: 4, type: uint16, scale: 0.01, offset: 1.0, byte_order: little}}
rules: []
sinks:
  - {{type: sqlite, path: mb.db}}
"""


@dataclass(frozen=True)
class Frame:
    t_s: float
    device: str
    values: dict[str, float | None] | None
    fault: str | None = None


def test_register_words_follow_the_map() -> None:
    site = parse_config(MODBUS_SITE.format(port="socket://127.0.0.1:9"))
    crane = next(d for d in site.devices if d.id == "crane1")
    assert isinstance(crane, ModbusDeviceConfig)
    load = register_words(2.5, crane.registers["load"])  # 2500 raw, int32, low word first
    assert load == [2500, 0]
    radius = register_words(13.0, crane.registers["radius"])  # (13 - 1) / 0.01 = 1200 = 0x04B0
    assert radius == [0xB004]
    anemo = next(d for d in site.devices if d.id == "anemo1")
    assert isinstance(anemo, ModbusDeviceConfig)
    assert register_words(12.34, anemo.registers["wind_speed"]) == [123]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["tcp", "pty"])
async def test_modbus_player_read_by_the_gateway(tmp_path: Path, transport: str) -> None:
    template = parse_config(MODBUS_SITE.format(port="socket://127.0.0.1:9"))
    serial_dir = tmp_path / "links" if transport == "pty" else None
    if serial_dir is not None:
        serial_dir.mkdir()
    async with ModbusPlayer(template, serial_dir=serial_dir) as player:
        endpoint = player.endpoints["line1"]
        if transport == "pty":
            assert endpoint == str(tmp_path / "links" / "line1")
        else:
            assert endpoint.startswith("socket://127.0.0.1:")
        config = parse_config(MODBUS_SITE.format(port=endpoint))
        values = {
            "anemo1": {"wind_speed": 12.3},
            "fw1.S1": {"settlement": 3.25},
            "crane1": {"load": 2.5, "radius": 13.0},
        }
        for device, v in values.items():
            player.apply(Frame(0.0, device, dict(v)))
        async with running(config, tmp_path) as runtime:
            col = runtime.site.index.column
            state = runtime.engine.state

            def shows(channel: str, value: float) -> bool:
                last = float(state.last_value[col(channel)])
                return math.isclose(last, value, abs_tol=1e-6) and state.last_quality[col(channel)] == 0

            await eventually(lambda: shows("anemo1.wind_speed", 12.3), 10, "wind")
            await eventually(lambda: shows("fw1.S1.settlement", 3.25), 5, "settlement")
            await eventually(lambda: shows("crane1.load", 2.5), 5, "load")
            await eventually(lambda: shows("crane1.radius", 13.0), 5, "radius")
            # New frames change the registers; a silent fault stops the unit answering.
            player.apply(Frame(1.0, "crane1", {"load": 0.75, "radius": 20.5}))
            player.apply(Frame(1.0, "fw1.S1", None, "silent"))
            await eventually(lambda: shows("crane1.load", 0.75), 5, "new load")
            await eventually(
                lambda: state.last_quality[col("fw1.S1.settlement")] & Quality.BAD_COMM, 5, "settlement bad"
            )
            assert player.buses["line1"].stats[2].ignored >= 1
            # Restored by the next frame without a fault.
            player.apply(Frame(2.0, "fw1.S1", {"settlement": 3.5}))
            await eventually(lambda: shows("fw1.S1.settlement", 3.5), 5, "settlement back")
            # A CRC fault: garbled answers (line noise on a pty, an exception answer over TCP).
            player.apply(Frame(3.0, "anemo1", {"wind_speed": 9.0}, "crc"))
            await eventually(
                lambda: state.last_quality[col("anemo1.wind_speed")] & Quality.BAD_COMM, 10, "wind bad"
            )
            player.apply(Frame(4.0, "anemo1", {"wind_speed": 9.0}))
            await eventually(lambda: shows("anemo1.wind_speed", 9.0), 10, "wind back")
