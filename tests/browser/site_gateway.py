"""A whole gateway for the browser tests: mosquitto and ``smartsite run`` on free loopback ports, the
site of ``site.yaml.in`` with its plan, and simulated sensors that publish over MQTT as real ones do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from gateway.config import load_config
from simulators.publish import mqtt_payload, mqtt_topics
from tests.support import Mosquitto, free_port, smartsite_command, stop_process, wait_for_port

HERE = Path(__file__).parent
TOKENS = {"BT_WANG": "wang-token-1", "BT_LI": "li-token-1"}
SUPERVISOR = TOKENS["BT_WANG"]
VIEWER = TOKENS["BT_LI"]


class SiteGateway:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.broker = Mosquitto(folder / "broker")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.config_path = folder / "site.yaml"
        text = (HERE / "site.yaml.in").read_text(encoding="utf-8")
        text = text.replace("@MQTT@", self.broker.url).replace("@PORT@", str(self.port))
        self.config_path.write_text(text, encoding="utf-8")
        shutil.copy(HERE / "plan.svg", folder / "plan.svg")
        self.topics: dict[str, str] = {}
        self.sensor: mqtt.Client | None = None

    def start(self) -> SiteGateway:
        self.broker.start()
        env = {**os.environ, **TOKENS}
        log = (self.folder / "gateway.log").open("wb")
        self.proc = subprocess.Popen(
            [*smartsite_command(), "run", "--config", str(self.config_path)],
            cwd=self.folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, 30)
        os.environ.update(TOKENS)  # the site file names them; check-config wants them set
        self.topics = mqtt_topics(load_config(self.config_path))
        self.sensor = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bt-sensors")
        self.sensor.connect("127.0.0.1", self.broker.port)
        self.sensor.loop_start()
        self.wait_until_subscribed()
        return self

    def wait_until_subscribed(self, deadline_s: float = 20.0) -> None:
        """The gateway's MQTT source is connected (health says so): published readings arrive."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            try:
                health = self.get("/api/v1/health")
                if all(s["connected"] for s in health["sources"]):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError("the gateway's MQTT source did not connect")

    def publish(self, device: str, values: dict[str, float], ts: float | None = None) -> None:
        """One reading of a simulated sensor, on its topic, in the contract's payload, QoS 1."""
        assert self.sensor is not None
        payload = mqtt_payload(time.time() if ts is None else ts, values, None)
        assert payload is not None
        self.sensor.publish(self.topics[device], payload, qos=1).wait_for_publish(5)

    def get(self, path: str, token: str = VIEWER) -> Any:
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())

    def stop(self) -> None:
        if self.sensor is not None:
            self.sensor.loop_stop()
            self.sensor.disconnect()
        if self.proc is not None:
            stop_process(self.proc, timeout=15)
            self.proc = None
        self.broker.stop()
