"""Reading MQTT messages from paho in bulk: what arrived on the socket, in one event-loop turn.

At thousands of messages a second the per-message path of paho and aiomqtt was most of the
gateway (profiled at 3x overload: socket reads of one byte for each packet's header, an
``MQTTMessage`` with its own ``threading.Condition``, a debug log line, aiomqtt's ``Message``, a
queue entry and a task per message). Here, on the paho client under aiomqtt:

- the socket is read 64 kB at a time and paho's small reads are served from that buffer;
- each QoS 0 or 1 PUBLISH is decoded by paho's own ``decode_publish`` into a plain ``Publish``,
  and all of one wake-up's go into aiomqtt's queue as one list (every other packet, QoS 2
  included, takes paho's usual path and arrives as an ``aiomqtt.Message``);
- acknowledgements leave as one write of many PUBACKs (``send_pubacks``).

The hooks use paho's private methods (``_packet_read``, ``_sock_recv``, ``_packet_handle``,
``_packet_queue``): paho is pinned below its next major version in pyproject for that reason.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any, NamedTuple

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt._packet import decode_publish

# MQTT packets handled per wake-up of the event loop when nothing more is buffered.
READ_PACKETS_PER_WAKE = 500
RECEIVE_BYTES = 65536
_PUBLISH = 0x30
_PUBACK = struct.Struct("!BBH")


class Publish(NamedTuple):
    """One PUBLISH as the source needs it (an ``aiomqtt.Message`` has the same four fields)."""

    topic: str
    payload: bytes
    mid: int
    qos: int


def install(client: aiomqtt.Client, manual_ack: bool) -> None:
    """Hook bulk reading into ``client``'s paho client (before it connects).

    ``manual_ack``: QoS 1 messages are acknowledged by the caller (``send_pubacks``) once
    stored; otherwise each wake-up's are acknowledged together as soon as they are read."""
    paho: Any = client._client
    queue: Any = client._queue
    receive = _BufferedReceive(paho)
    handle_other = paho._packet_handle
    took: list[Publish] = []
    auto_acks: list[int] = []

    def packet_handle() -> mqtt.MQTTErrorCode:
        packet = paho._in_packet
        command = packet["command"]
        if command & 0xF0 != _PUBLISH or command & 0x06 == 0x04:  # not a PUBLISH, or QoS 2
            result: mqtt.MQTTErrorCode = handle_other()
            return result
        decoded = decode_publish(command, packet["packet"], paho._protocol)
        topic = decoded.topic.decode("utf-8", "replace")
        took.append(Publish(topic, decoded.payload, decoded.mid, decoded.qos))
        if decoded.qos == 1 and not manual_ack:
            auto_acks.append(decoded.mid)
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def loop_read(max_packets: int = 1) -> mqtt.MQTTErrorCode:
        # aiomqtt calls this from its reader callback when the socket is readable; paho's own
        # reads one packet per call.
        rc = mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        handled = 0
        try:
            while paho._sock is not None:
                read = paho._packet_read()
                if read > 0:
                    rc = paho._loop_rc_handle(read)
                    break
                if read == mqtt.MQTTErrorCode.MQTT_ERR_AGAIN:
                    break
                handled += 1
                # Go on while bytes wait in the buffer: the socket may not wake us for them.
                if handled >= READ_PACKETS_PER_WAKE and not receive.buffered():
                    break
            else:
                rc = mqtt.MQTTErrorCode.MQTT_ERR_NO_CONN
        finally:
            if took:
                queue.put_nowait(took.copy())
                took.clear()
            if auto_acks:
                send_pubacks(client, auto_acks)
                auto_acks.clear()
        return rc

    paho._sock_recv = receive
    paho._packet_handle = packet_handle
    paho.loop_read = loop_read


def send_pubacks(client: aiomqtt.Client, mids: Iterable[int]) -> None:
    """Acknowledge QoS 1 messages in one write (a PUBACK is four bytes in MQTT 3.1.1 and 5)."""
    packet = b"".join(_PUBACK.pack(0x40, 2, mid) for mid in mids)
    if packet:
        paho: Any = client._client
        paho._packet_queue(0x40, packet, 0, 0)


def messages_of(item: object) -> list[Any]:
    """An entry of aiomqtt's queue as messages: a bulk read's list, or one ``aiomqtt.Message``."""
    return item if isinstance(item, list) else [item]


class _BufferedReceive:
    """paho's ``_sock_recv`` with a buffer: one system call per 64 kB, not three per packet."""

    def __init__(self, paho: Any) -> None:
        self._paho = paho
        self._recv = paho._sock_recv  # paho's own: maps TLS want-read to BlockingIOError
        self._sock: object = None
        self._buffer = bytearray()

    def buffered(self) -> bool:
        return bool(self._buffer) and self._sock is self._paho._sock

    def __call__(self, size: int) -> bytes:
        if self._sock is not self._paho._sock:  # a new connection: nothing of the old one counts
            self._sock, self._buffer = self._paho._sock, bytearray()
        if not self._buffer:
            data = self._recv(max(size, RECEIVE_BYTES))
            if len(data) <= size:
                return bytes(data)
            self._buffer += data
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out
