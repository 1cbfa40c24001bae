"""A Modbus slave (real pymodbus server, RTU frames over TCP) through the whole gateway to an alarm."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.config import parse_config
from gateway.vocab import Quality
from tests.drivers.modbus.slaves import Slaves
from tests.integration.site_helpers import running
from tests.support import eventually, free_port

pytestmark = pytest.mark.integration

SITE = """
site: {{id: mb}}
buses:
  - {{id: rs485-1, type: serial, port: "socket://127.0.0.1:{port}"}}
devices:
  - id: anemo1
    type: modbus
    bus: rs485-1
    unit: 1
    poll_s: 0.2
    timeout_s: 0.1
    registers:
      wind_speed: {{function: holding, address: 0, type: uint16, scale: 0.1, unit: m/s, no_value: 65535}}
  - id: anemo2
    type: modbus
    bus: rs485-1
    unit: 2
    poll_s: 0.2
    timeout_s: 0.1
    registers:
      wind_speed: {{function: holding, address: 0, type: uint16, scale: 0.1, unit: m/s}}
rules:
  - {{id: wind, type: threshold, channels: ["*.wind_speed"], upper: {{yellow: 10.0, orange: 20.0}}}}
sinks:
  - {{type: sqlite, path: mb.db}}
"""


async def test_modbus_readings_raise_alarms_and_a_dead_slave_goes_bad(tmp_path: Path) -> None:
    port = free_port()
    slaves = Slaves([1, 2])  # raw values 105 and 205: 10.5 m/s (yellow) and 20.5 m/s (orange)
    await slaves.start(f"socket://127.0.0.1:{port}")
    try:
        config = parse_config(SITE.format(port=port))
        async with running(config, tmp_path) as runtime:
            col = runtime.site.index.column
            state = runtime.engine.state
            await eventually(lambda: state.readings[col("anemo2.wind_speed")] >= 3, 5, "polled")
            assert state.last_value[col("anemo1.wind_speed")] == pytest.approx(10.5)
            await eventually(lambda: len(runtime.desk.records) == 2, 5, "two alarms on the desk")
            grades = {r.channel: r.grade for r in runtime.desk.listing()}
            assert grades == {"anemo1.wind_speed": 1, "anemo2.wind_speed": 2}
            # Slave 2 stops answering: its readings turn bad, slave 1 keeps its schedule.
            slaves.silent.add(2)
            before = int(state.readings[col("anemo1.wind_speed")])
            await eventually(
                lambda: state.last_quality[col("anemo2.wind_speed")] & Quality.BAD_COMM, 5, "bad readings"
            )
            t0 = time.monotonic()
            await eventually(
                lambda: state.readings[col("anemo1.wind_speed")] >= before + 5, 5, "slave 1 polled on"
            )
            assert time.monotonic() - t0 < 2.5
            hub = runtime.sources[0]
            health = runtime.health()["sources"][0]
            assert health["name"] == hub.name and health["devices"]["anemo2"]["errors"]["timeout"] >= 1
            slaves.silent.discard(2)
            await eventually(
                lambda: state.last_quality[col("anemo2.wind_speed")] == Quality.GOOD, 5, "slave 2 back"
            )
    finally:
        await slaves.stop()
