"""Device states from the newest readings, the bus's counters and maintenance."""

from __future__ import annotations

from typing import Any

from api.device_states import DeviceStates
from gateway.config import parse_config
from gateway.live import LatestReadings, Rounding
from gateway.site import Site
from gateway.vocab import Quality, ReadingBatch

SITE = """
site: {id: s1}
buses:
  - {id: b1, type: tcp, host: 127.0.0.1, port: 1502}
devices:
  - id: anemo1
    type: modbus
    bus: b1
    unit: 1
    poll_s: 2
    registers: {wind_speed: {address: 0, scale: 0.1, unit: m/s}}
  - id: pit.P1
    type: mqtt
    channels: {disp_h: {unit: mm}}
"""


class Hub:
    """What DeviceStates reads of a Modbus hub: its name, link and per-device counters."""

    name = "modbus:b1"
    connected = True

    def __init__(self) -> None:
        self.mine: dict[str, Any] = {"errors": {}, "last_error": None, "failing_since": None}

    def counters(self) -> dict[str, dict[str, Any]]:
        return {"anemo1": self.mine}


class Mqtt:
    name = "mqtt-in"
    connected = False


def states(now: list[float]) -> tuple[DeviceStates, LatestReadings, Hub, set[str]]:
    config = parse_config(SITE)
    site = Site(config)
    latest = LatestReadings(len(site.channels))
    rounding = Rounding({e.id: e.config.resolution for e in site.channels})
    hub, maintenance = Hub(), set[str]()
    view = DeviceStates(
        config, site.channels, latest, rounding, [hub, Mqtt()], maintenance.__contains__, lambda: now[0]
    )
    return view, latest, hub, maintenance


def test_states_follow_readings_the_bus_and_maintenance() -> None:
    now = [100.0]
    view, latest, hub, maintenance = states(now)
    anemo = parse_config(SITE).devices[0]
    first = view.view(anemo)
    assert first["state"] == "no_data" and first["stale_after_s"] == 6.0  # three polls of 2 s
    assert first["link"] == {"name": "modbus:b1", "connected": True}
    latest.update(ReadingBatch.from_lists([99.0], [0], [12.34], [0]))
    ok = view.view(anemo)
    assert ok["state"] == "ok" and ok["last_good"]["value"] == 12.3  # an integer register: 0.1
    now[0] = 110.0
    assert view.view(anemo)["state"] == "stale"
    hub.mine.update(failing_since=105.0, last_error="timeout", errors={"timeout": 3})
    failing = view.view(anemo)
    assert failing["state"] == "failing"
    assert failing["errors"] == {
        "failing_since": "1970-01-01T00:01:45.000Z",
        "last_error": "timeout",
        "counts": {"timeout": 3},
    }
    maintenance.add("anemo1")
    assert view.view(anemo)["state"] == "maintenance"
    pit = view.states()["pit.P1"]
    assert pit == ("no_data", False)  # the MQTT source is not connected


def test_a_bad_newest_reading_is_bad_data_and_a_comm_failure_is_failing() -> None:
    now = [100.0]
    view, latest, _, _ = states(now)
    pit = parse_config(SITE).devices[1]
    latest.update(ReadingBatch.from_lists([98.0, 99.0], [1, 1], [4.0, 900.0], [0, Quality.BAD_RANGE]))
    bad = view.view(pit)
    assert bad["state"] == "bad_data" and bad["last_good"]["value"] == 4.0
    latest.update(ReadingBatch.from_lists([99.5], [1], [float("nan")], [Quality.BAD_COMM]))
    assert view.view(pit)["state"] == "failing"
