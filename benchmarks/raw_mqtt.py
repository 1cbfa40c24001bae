"""MQTT 3.1.1 packets by hand, for the benchmarks' publishers: they must wait on nothing but the socket
(a client library waiting for each PUBACK cannot keep tens of thousands of messages a second)."""

from __future__ import annotations

import struct


def utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_packet(client_id: str, keepalive_s: int = 60) -> bytes:
    """CONNECT with a clean session."""
    body = utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", keepalive_s) + utf8(client_id)
    return b"\x10" + remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, mid: int, qos: int = 1) -> bytes:
    """PUBLISH at ``qos`` (0 or 1) with packet id ``mid`` (QoS 0 carries none)."""
    body = utf8(topic) + (struct.pack("!H", mid) if qos else b"") + payload
    return bytes([0x30 | qos << 1]) + remaining_length(len(body)) + body
