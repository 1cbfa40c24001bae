"""Modbus in the site file: models, profiles, checks for meaning (cases/), hub parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from drivers.modbus.spec import REGISTER_COUNT
from gateway.config import site_channels
from gateway.config.loader import format_path
from gateway.config.meaning_modbus import REGISTER_COUNT as CONFIG_REGISTER_COUNT
from gateway.config.meaning_modbus import check_modbus
from gateway.config.modbus import ModbusDeviceConfig
from gateway.config.models import SiteConfig
from gateway.config.profiles import PROFILES
from gateway.modbus_build import build_modbus_hubs, modbus_bus_specs

HERE = Path(__file__).parent
CASES = sorted(p for p in (HERE / "cases").iterdir() if p.is_dir())

SITE = """
site: {id: t1}
buses:
  - {id: rs485-1, type: serial, port: "socket://127.0.0.1:9", baudrate: 19200, parity: E}
  - {id: dtu, type: rtu_over_tcp, host: 10.0.0.9, port: 8899, max_gap_registers: 0}
  - {id: eth, type: tcp, host: 10.0.0.10}
  - {id: spare, type: serial, port: "socket://127.0.0.1:10"}
devices:
  - {id: mq1, type: mqtt, channels: {settlement: {unit: mm}}}
  - id: crane1
    type: modbus
    bus: rs485-1
    unit: 3
    profile: tower_crane_monitor
    timeout_s: 0.2
    registers:
      load: {address: 20}
      slew: null
      moment: {function: input, address: 0, type: uint16, scale: 0.1, unit: "%", no_value: [65535]}
  - {id: anemo1, type: modbus, bus: dtu, unit: 1, profile: anemometer_rs485}
  - id: door1
    type: modbus
    bus: eth
    unit: 9
    poll_s: 5
    registers:
      open: {function: discrete, address: 4}
"""


def load(text: str) -> SiteConfig:
    return SiteConfig.model_validate(yaml.safe_load(text))


def test_register_counts_agree_with_the_driver() -> None:
    assert CONFIG_REGISTER_COUNT == REGISTER_COUNT


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_meaning_cases(case: Path) -> None:
    config = load((case / "site.yaml").read_text(encoding="utf-8"))
    found = [f"{format_path(p.path)}: {p.message}" for p in check_modbus(config)]
    expected = (case / "expected.txt").read_text(encoding="utf-8").splitlines()
    for line in expected:
        assert any(f.startswith(line) for f in found), f"missing {line!r} in {found}"
    assert len(found) == len(expected), found


def test_a_good_site_has_no_problems_and_profiles_apply() -> None:
    config = load(SITE)
    assert check_modbus(config) == []
    crane = config.devices[1]
    assert isinstance(crane, ModbusDeviceConfig)
    assert crane.poll_s == PROFILES["tower_crane_monitor"].defaults["poll_s"]
    assert crane.timeout_s == 0.2  # own key wins
    assert set(crane.registers) == {"load", "radius", "height", "wind_speed", "moment"}
    assert crane.registers["load"].address == 20
    assert crane.registers["load"].type == "float32"  # merged one level: the profile's type stays
    assert config.devices[3].registers["open"].type == "bool"  # type: ignore[union-attr]


def test_channels_come_from_registers() -> None:
    config = load(SITE)
    ids = [e.id for e in site_channels(config)]
    assert ids == [
        "mq1.settlement",
        "crane1.load",
        "crane1.radius",
        "crane1.height",
        "crane1.wind_speed",
        "crane1.moment",
        "anemo1.wind_speed",
        "door1.open",
    ]
    channel = config.devices[2].channels["wind_speed"]
    assert (channel.unit, channel.range) == ("m/s", (0.0, 70.0))


@pytest.mark.parametrize(
    ("device", "where", "message"),
    [
        (
            {"profile": "anemometr"},
            ("profile",),
            "unknown profile 'anemometr'; did you mean anemometer_rs485",
        ),
        ({"unit": 0}, ("unit",), "greater than or equal to 1"),
        ({"unit": 248}, ("unit",), "less than or equal to 247"),
        (
            {"registers": {"x": {"address": 0, "type": "int64"}}},
            ("registers", "x", "type"),
            "Input should be",
        ),
        ({"registers": {"x": {"address": 0, "word_order": "middle"}}}, ("registers", "x", "word_order"), ""),
        ({"registers": {"x": {"address": 70000}}}, ("registers", "x", "address"), "less than or equal"),
        ({"retries": -1}, ("retries",), "greater than or equal to 0"),
        ({"baud": 9600}, ("baud",), "Extra inputs are not permitted"),
    ],
)
def test_invalid_devices(device: dict[str, Any], where: tuple[str, ...], message: str) -> None:
    data = yaml.safe_load(SITE)
    base = {"id": "x1", "type": "modbus", "bus": "eth", "unit": 1, "registers": {"q": {"address": 0}}}
    data["devices"].append({**base, **device})
    with pytest.raises(ValidationError) as caught:
        SiteConfig.model_validate(data)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    assert errors[0]["loc"][-len(where) :] == where
    assert message in errors[0]["msg"]


def test_invalid_bus_keys() -> None:
    data = yaml.safe_load(SITE)
    data["buses"].append({"id": "x", "type": "serial", "port": "/dev/ttyS0", "parity": "X"})
    data["buses"].append({"id": "y", "type": "rs232", "port": "/dev/ttyS0"})
    with pytest.raises(ValidationError) as caught:
        SiteConfig.model_validate(data)
    assert len(caught.value.errors()) == 2


def test_ports_check_can_be_left_out() -> None:
    text = (HERE / "cases" / "missing_port" / "site.yaml").read_text(encoding="utf-8")
    assert check_modbus(load(text), ports=False) == []


def test_existing_device_path_passes(tmp_path: Path) -> None:
    port = tmp_path / "ttyUSB0"
    port.touch()
    config = load(SITE.replace('"socket://127.0.0.1:9"', str(port)))
    assert check_modbus(config) == []


def test_bus_specs_for_the_hub() -> None:
    config = load(SITE)
    columns = {e.id: i for i, e in enumerate(site_channels(config))}
    specs = {s.id: s for s in modbus_bus_specs(config, columns)}
    assert list(specs) == ["rs485-1", "dtu", "eth"]  # the spare bus has no devices: no hub
    serial = specs["rs485-1"]
    assert (serial.kind, serial.port, serial.baudrate, serial.parity) == (
        "serial",
        "socket://127.0.0.1:9",
        19200,
        "E",
    )
    assert serial.gap_s() == pytest.approx(3.5 * 11 / 19200)
    (crane,) = serial.devices
    assert (crane.unit, crane.timeout_s, crane.poll_s) == (3, 0.2, 0.5)
    load_spec = next(r for r in crane.registers if r.quantity == "load")
    assert (load_spec.column, load_spec.address, load_spec.type) == (columns["crane1.load"], 20, "float32")
    moment = next(r for r in crane.registers if r.quantity == "moment")
    assert (moment.function, moment.scale, moment.no_value) == ("input", 0.1, (65535.0,))
    dtu = specs["dtu"]
    assert (dtu.kind, dtu.host, dtu.tcp_port, dtu.max_gap_registers) == ("rtu_over_tcp", "10.0.0.9", 8899, 0)
    assert dtu.gap_s() == pytest.approx(3.5 * 10 / 9600)
    eth = specs["eth"]
    assert (eth.kind, eth.tcp_port, eth.gap_s()) == ("tcp", 502, 0.0)
    assert eth.devices[0].registers[0].function == "discrete"


async def test_hubs_build_from_the_config() -> None:
    config = load(SITE)
    columns = {e.id: i for i, e in enumerate(site_channels(config))}
    hubs = build_modbus_hubs(config, columns)
    assert [h.bus.id for h in hubs] == ["rs485-1", "dtu", "eth"]
    # The crane's four float32 registers and the input register: two requests per poll.
    assert [(q.function, q.address, q.count) for q in hubs[0].plans()["crane1"]] == [
        ("holding", 2, 8),
        ("holding", 20, 2),
        ("input", 0, 1),
    ]
    assert set(hubs[0].counters()) == {"crane1"}


def test_every_profile_is_a_valid_device() -> None:
    data = yaml.safe_load(SITE)
    data["devices"] = [
        {"id": f"d{i}", "type": "modbus", "bus": "eth", "unit": i + 1, "profile": name}
        for i, name in enumerate(PROFILES)
    ]
    config = load(yaml.safe_dump(data))
    assert check_modbus(config) == []
    assert all(d.channels for d in config.devices)
