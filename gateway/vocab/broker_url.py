"""MQTT broker URLs, read one way by every room: ``mqtt://[user:pass@]host[:port]`` or ``mqtts://``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

SCHEMES = {"mqtt": (False, 1883), "mqtts": (True, 8883)}  # scheme -> (TLS, default port)


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    def describe(self) -> str:
        """Where the broker is, without the credentials (for logs and errors)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerUrl:
    """The broker a URL names; ``ValueError`` with a reason a person can act on otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise ValueError(f"scheme must be mqtt:// or mqtts://, not {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise ValueError("the URL names no host")
    if port == 0:
        raise ValueError("port 0 is not a broker port")
    tls, default_port = SCHEMES[parts.scheme]
    return BrokerUrl(parts.hostname, port or default_port, tls, parts.username, parts.password)
