"""Monitoring frequency follows the weather: the pit polled faster while a rainstorm warning is in
force (official or the site's own), back afterwards, and again after a restart. Real hubs, built
from the site file (their poll schedule is what changes; polling itself is tested in the hub's)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from drivers.modbus import ModbusHub
from gateway.config import ConfigError, parse_config
from gateway.modbus_build import build_modbus_hubs
from gateway.weather import Weather
from tests.drivers.cap.documents import alert, info, ref

SITE = """
site: {id: p1}
buses:
  - {id: rs485-1, type: serial, port: "socket://127.0.0.1:9"}
devices:
  - id: pit.P1
    type: modbus
    bus: rs485-1
    unit: 1
    poll_s: 600
    registers: {disp_h: {function: holding, address: 0, type: int16, scale: 0.1, unit: mm}}
  - id: fw1.S1
    type: modbus
    bus: rs485-1
    unit: 2
    poll_s: 60
    registers: {settlement: {function: holding, address: 0, type: int16, scale: 0.01, unit: mm}}
weather:
  faster_polling:
    - {event: rainstorm, colour: blue, devices: ["pit.*"], poll_s: 60}
    - {event: rainstorm, colour: orange, devices: ["pit.*", fw1.S1], poll_s: 10}
"""
T0 = datetime.fromisoformat("2026-12-02T08:05:00+08:00").timestamp()
BLUE = info(code="11B0301", event="暴雨", headline="暴雨蓝色预警")
ORANGE = info(code="11B0303", event="暴雨", headline="暴雨橙色预警")


def parts(folder: Path) -> tuple[Weather, ModbusHub]:
    config = parse_config(SITE)
    columns = {"pit.P1.disp_h": 0, "fw1.S1.settlement": 1}
    (hub,) = build_modbus_hubs(config, columns)
    weather = Weather(config, folder, emit=lambda events: None, clock=lambda: T0, sources=[hub])
    return weather, hub


async def test_faster_while_a_rainstorm_is_in_force_and_after_a_restart(tmp_path: Path) -> None:
    weather, hub = parts(tmp_path)
    assert hub.poll_periods() == {"pit.P1": 600, "fw1.S1": 60}
    async with weather:
        await weather.desk.receive(alert("R1", infos=BLUE).encode())
        assert hub.poll_periods() == {"pit.P1": 60, "fw1.S1": 60}
        update = alert("R2", "2026-12-02T09:00:00+08:00", "Update", references=ref("R1"), infos=ORANGE)
        await weather.desk.receive(update.encode())
        assert hub.poll_periods() == {"pit.P1": 10, "fw1.S1": 10}
        assert weather.health()["faster_polling"] == {"pit.P1": 10, "fw1.S1": 10}
    again, hub = parts(tmp_path)
    async with again:
        assert hub.poll_periods() == {"pit.P1": 10, "fw1.S1": 10}
        cancel = alert("C1", "2026-12-02T10:00:00+08:00", "Cancel", infos="",
                       references=ref("R2", "2026-12-02T09:00:00+08:00"))  # fmt: skip
        await again.desk.receive(cancel.encode())
        assert hub.poll_periods() == {"pit.P1": 600, "fw1.S1": 60}
        assert again.health()["faster_polling"] == {}


async def test_other_warnings_change_nothing(tmp_path: Path) -> None:
    weather, hub = parts(tmp_path)
    async with weather:
        await weather.desk.receive(alert("G1").encode())  # a gale
        await weather.desk.receive(alert("T1", status="Test", infos=ORANGE).encode())  # not real
        assert hub.poll_periods() == {"pit.P1": 600, "fw1.S1": 60}


def test_only_modbus_devices_can_be_polled_faster() -> None:
    with pytest.raises(ConfigError) as err:
        mqtt = "  - {id: anemo1, type: mqtt, channels: {wind_speed: {unit: m/s}}}\nweather:"
        parse_config(
            SITE.replace('devices: ["pit.*"]', 'devices: ["pit.*", anemo1]').replace("weather:", mqtt)
        )
    assert "weather.faster_polling[0].devices[1]: no Modbus device 'anemo1'" in str(err.value)
