"""The demo site's devices publishing the contract's JSON over MQTT, like 4G DTUs would."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Protocol

import aiomqtt

from gateway.config import MqttDeviceConfig, SiteConfig
from simulators.signals import Anemometer, Crane, FormworkPoint, PitPoint

log = logging.getLogger(__name__)


class Model(Protocol):
    def sample(self, t: float) -> dict[str, float]: ...


def build_models(config: SiteConfig, seed: int) -> dict[str, Model]:
    """A signal model per device of the site, chosen by the device's quantities."""
    rng = random.Random(seed)
    models: dict[str, Model] = {}
    for i, device in enumerate(config.devices):
        if not isinstance(device, MqttDeviceConfig):
            continue
        quantities = set(device.channels)
        device_rng = random.Random(rng.random())
        if "load" in quantities:
            models[device.id] = Crane(device_rng)
        elif "wind_speed" in quantities:
            models[device.id] = Anemometer(device_rng)
        elif "settlement" in quantities:
            models[device.id] = FormworkPoint(device_rng, final_mm=2.0 + i % 4)
        elif "disp_h" in quantities:
            models[device.id] = PitPoint(device_rng, start_mm=6.0 + 2 * (i % 4), creep_mm=4.0)
    return models


async def publish_site(
    config: SiteConfig,
    host: str,
    port: int,
    speed: float = 1.0,
    period_s: float = 1.0,
    seed: int = 1,
    clock: Callable[[], float] = time.time,
) -> None:
    """Publish one message per device every ``period_s`` until cancelled; reconnect on loss."""
    models = build_models(config, seed)
    prefix = f"smartsite/{config.site.id}"
    topics = {
        d.id: d.topic or f"{prefix}/devices/{d.id}/up"
        for d in config.devices
        if isinstance(d, MqttDeviceConfig)
    }
    started = clock()
    while True:
        try:
            async with aiomqtt.Client(host, port, identifier=f"demo-devices-{seed}") as client:
                while True:
                    now = clock()
                    t = (now - started) * speed
                    for device, model in models.items():
                        payload = {"ts": round(now, 3), "values": model.sample(t)}
                        await client.publish(topics[device], json.dumps(payload), qos=1)
                    await asyncio.sleep(period_s)
        except aiomqtt.MqttError as exc:
            log.warning("demo devices lost the broker (%s); reconnecting", exc)
            await asyncio.sleep(1.0)
