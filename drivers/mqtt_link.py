"""How to reach an MQTT broker, as plain data, and the aiomqtt client built from it."""

from __future__ import annotations

import functools
import logging
import ssl
from dataclasses import dataclass

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.vocab.broker_url import BrokerUrl, parse_broker_url

# aiomqtt warns on every concurrent publish over 10, which slows everything (TECH-NOTES).
_client_logger = logging.getLogger("smartsite.aiomqtt")
_client_logger.setLevel(logging.ERROR)


@dataclass(frozen=True, slots=True)
class MqttLink(BrokerUrl):
    """A broker and how to talk to it: keepalive, client certificates, MQTT 5 sessions."""

    keepalive: int = 30
    ca_file: str | None = None  # None: the system's trusted CAs
    cert_file: str | None = None  # client certificate, for brokers that want one
    key_file: str | None = None
    mqtt5: bool = False
    session_expiry_s: int = 0  # MQTT 5: how long the broker keeps our session after a disconnect

    @classmethod
    def from_url(
        cls,
        url: str,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        mqtt5: bool = False,
        session_expiry_s: int = 0,
    ) -> MqttLink:
        broker = parse_broker_url(url)
        return cls(
            host=broker.host,
            port=broker.port,
            tls=broker.tls,
            username=username or broker.username,
            password=password or broker.password,
            keepalive=keepalive,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
            mqtt5=mqtt5,
            session_expiry_s=session_expiry_s,
        )

    def client(
        self,
        identifier: str | None = None,
        will: aiomqtt.Will | None = None,
        clean_session: bool | None = None,
    ) -> aiomqtt.Client:
        # TLS is never dropped for plain text: an mqtts link without a working handshake fails.
        tls_context = None
        if self.tls:
            tls_context = ssl.create_default_context(cafile=self.ca_file)
            if self.cert_file:
                tls_context.load_cert_chain(self.cert_file, self.key_file)
        persistent = clean_session is False
        connect = functools.partial(
            aiomqtt.Client,
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=identifier,
            keepalive=self.keepalive,
            will=will,
            tls_context=tls_context,
            logger=_client_logger,
            timeout=10,
            max_inflight_messages=200,
        )
        if not self.mqtt5:
            return connect(clean_session=clean_session)
        # MQTT 5 keeps nothing of a session without an expiry in the CONNECT (TECH-NOTES).
        properties = None
        if persistent and self.session_expiry_s:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self.session_expiry_s
        return connect(protocol=aiomqtt.ProtocolVersion.V5, clean_start=not persistent, properties=properties)
