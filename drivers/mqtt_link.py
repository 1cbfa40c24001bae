"""How to reach an MQTT broker, as plain data, and the aiomqtt client built from it."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiomqtt

# aiomqtt warns on every concurrent publish over 10, which slows everything (TECH-NOTES).
_client_logger = logging.getLogger("smartsite.aiomqtt")
_client_logger.setLevel(logging.ERROR)


@dataclass(frozen=True, slots=True)
class MqttLink:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    keepalive: int = 30

    @classmethod
    def from_url(
        cls,
        url: str,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
    ) -> MqttLink:
        parts = urlsplit(url)
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=username or parts.username,
            password=password or parts.password,
            keepalive=keepalive,
        )

    def describe(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def client(
        self,
        identifier: str | None = None,
        will: aiomqtt.Will | None = None,
        clean_session: bool | None = None,
    ) -> aiomqtt.Client:
        # TLS is never dropped for plain text: an mqtts link without a working handshake fails.
        tls_context = ssl.create_default_context() if self.tls else None
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=identifier,
            keepalive=self.keepalive,
            will=will,
            clean_session=clean_session,
            tls_context=tls_context,
            logger=_client_logger,
            timeout=10,
            max_inflight_messages=200,
        )
