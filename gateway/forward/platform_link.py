"""The broker link of an MQTT sink (the platform uplink), shared by forwarding and weather warnings."""

from __future__ import annotations

import os
from collections.abc import Callable

from drivers import MqttLink
from gateway.config import MqttSinkConfig, SiteConfig


def platform_link(
    config: SiteConfig,
    sink: MqttSinkConfig,
    broker_link: Callable[[str | None], MqttLink],
    sessions: bool = True,
) -> MqttLink:
    """``sink``'s broker, or the sensors' broker when it names none; ``sessions``: the sink's MQTT
    version and session expiry apply (a sender that keeps no session speaks MQTT 3.1.1)."""
    # On the sensors' broker the uplink may use its credentials; another broker needs its own.
    site_broker = broker_link(None) if sink.broker is None else None
    password = os.environ.get(sink.password_env) if sink.password_env else None
    return MqttLink.from_url(
        sink.broker or config.mqtt.url,
        username=sink.username or (site_broker.username if site_broker else None),
        password=password or (site_broker.password if site_broker else None),
        keepalive=config.mqtt.keepalive,
        ca_file=sink.ca_file,
        cert_file=sink.cert_file,
        key_file=sink.key_file,
        mqtt5=sessions and sink.protocol == "5",
        session_expiry_s=sink.session_expiry_s if sessions else 0,
    )
