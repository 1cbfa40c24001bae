"""``smartsite demo``: a whole simulated site on this machine, no external service needed.

A scenario's devices play over the real protocols: MQTT devices publish to an in-process broker
(amqtt) and Modbus devices are slaves served over RTU-over-TCP on loopback ports (no socat), polled
by the gateway's real Modbus hub. The gateway's own alarm events go back out on the same broker;
SQLite lives in a temporary folder. When the scenario ends it starts again, with fresh data times.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from amqtt.broker import Broker

from gateway.config import SiteConfig, SqliteSinkConfig
from gateway.config.modbus import RtuOverTcpBusConfig, SerialBusConfig
from simulators.generate import readings
from simulators.publish import ModbusPlayer, MqttPlayer, play, players
from simulators.scenario import Scenario, find_scenario, load_scenario, load_site
from smartsite.serve import serve

log = logging.getLogger(__name__)

DEFAULT_SCENARIO = "demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def embedded_broker(port: int) -> AsyncIterator[None]:
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "sys_interval": 0,
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
    )
    await broker.start()
    try:
        yield
    finally:
        await broker.shutdown()


def demo_config(
    base: SiteConfig, broker_port: int, api_port: int, db_path: Path, modbus: dict[str, str] | None = None
) -> SiteConfig:
    """The site file pointed at this machine: embedded broker, local slaves, temporary stores."""
    sinks = [
        SqliteSinkConfig(type="sqlite", path=str(db_path)) if s.type == "sqlite" else s for s in base.sinks
    ]
    buses = []
    for bus in base.buses:
        endpoint = (modbus or {}).get(bus.id)
        if endpoint is not None and isinstance(bus, SerialBusConfig):
            bus = bus.model_copy(update={"port": endpoint})
        elif endpoint is not None and isinstance(bus, RtuOverTcpBusConfig):
            host, _, port = endpoint.removeprefix("socket://").rpartition(":")
            bus = bus.model_copy(update={"host": host, "port": int(port)})
        buses.append(bus)
    return base.model_copy(
        update={
            "mqtt": base.mqtt.model_copy(update={"url": f"mqtt://127.0.0.1:{broker_port}"}),
            "api": base.api.model_copy(update={"port": api_port, "bind": "127.0.0.1"}),
            "alarms": base.alarms.model_copy(update={"store": str(db_path.parent / "alarms.db")}),
            "sinks": sinks,
            "buses": buses,
        }
    )


async def _play_forever(
    scenario: Scenario, site: SiteConfig, speed: float, mqtt: MqttPlayer | None, modbus: ModbusPlayer | None
) -> None:
    while True:
        if mqtt is not None:
            mqtt.start_ts = time.time()  # data time follows the wall clock, run after run
        await play(readings(scenario, site), speed=speed, mqtt=mqtt, modbus=modbus)
        log.info("demo: scenario %s played to its end; starting it again", scenario.name)


async def run_demo(
    port: int,
    speed: float,
    duration: float | None,
    scenario_name: str = DEFAULT_SCENARIO,
    config_path: Path | None = None,
    data_dir: Path | None = None,
) -> int:
    scenario = load_scenario(find_scenario(scenario_name))
    base = load_site(scenario) if config_path is None else _load(config_path)
    broker_port = free_port()
    with contextlib.ExitStack() as stack:
        folder = data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="smartsite-demo-")))
        async with (
            embedded_broker(broker_port),
            players(base, start_ts=time.time(), mqtt_url=f"mqtt://127.0.0.1:{broker_port}") as (mqtt, modbus),
        ):
            endpoints = dict(modbus.endpoints) if modbus is not None else {}
            config = demo_config(base, broker_port, port, folder / "smartsite.db", endpoints)

            async def devices() -> None:
                await _play_forever(scenario, base, speed, mqtt, modbus)

            def ready(_runtime: object, url: str) -> None:
                log.info("demo: scenario %s; dashboard on %s/ ; data in %s", scenario.name, url, folder)

            return await serve(
                config,
                base_dir=folder,
                duration=duration,
                services=[("demo-devices", devices)],
                on_ready=ready,
            )
    return 1


def _load(path: Path) -> SiteConfig:
    from gateway.config import load_config

    return load_config(path)
