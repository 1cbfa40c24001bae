"""``smartsite demo``: a whole simulated site on this machine, no external service needed.

An in-process MQTT broker (amqtt) carries the simulated devices' JSON to the gateway's real MQTT
input and the gateway's alarm events back out; SQLite lives in a temporary folder.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from amqtt.broker import Broker

from gateway.config import SiteConfig, SqliteSinkConfig, load_config
from gateway.serve import serve
from simulators import publish_site

log = logging.getLogger(__name__)

EXAMPLE_SITE = Path(__file__).resolve().parent.parent / "examples" / "site.yaml"


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


def demo_config(base: SiteConfig, broker_port: int, api_port: int, db_path: Path) -> SiteConfig:
    sinks = [
        SqliteSinkConfig(type="sqlite", path=str(db_path)) if s.type == "sqlite" else s for s in base.sinks
    ]
    return base.model_copy(
        update={
            "mqtt": base.mqtt.model_copy(update={"url": f"mqtt://127.0.0.1:{broker_port}"}),
            "api": base.api.model_copy(update={"port": api_port, "bind": "127.0.0.1"}),
            "sinks": sinks,
        }
    )


async def run_demo(
    port: int,
    speed: float,
    duration: float | None,
    config_path: Path = EXAMPLE_SITE,
    data_dir: Path | None = None,
) -> int:
    base = load_config(config_path)
    broker_port = free_port()
    with contextlib.ExitStack() as stack:
        folder = data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="smartsite-demo-")))
        config = demo_config(base, broker_port, port, folder / "smartsite.db")
        async with embedded_broker(broker_port):

            async def devices() -> None:
                await publish_site(config, "127.0.0.1", broker_port, speed=speed)

            def ready(_runtime: object, url: str) -> None:
                log.info("demo: dashboard on %s/ , data in %s", url, folder)

            return await serve(
                config,
                base_dir=folder,
                duration=duration,
                services=[("demo-devices", devices)],
                on_ready=ready,
            )
    return 1
