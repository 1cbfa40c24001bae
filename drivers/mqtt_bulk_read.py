"""Reading MQTT messages from paho in bulk: what arrived on the socket, in one event-loop turn.

At thousands of messages a second the per-message path of paho and aiomqtt was most of the
gateway (profiled at 3x overload: three socket reads per packet for its fixed header, a dict per
packet, an ``MQTTMessage`` with its own ``threading.Condition``, a debug log line, aiomqtt's
``Message``, a queue entry and a task per message). Here, on the paho client under aiomqtt:

- the socket is read 64 kB at a time and the MQTT frames are cut from that buffer;
- each QoS 0 or 1 PUBLISH becomes a plain ``Publish`` tuple (MQTT 5's properties are read by paho's
  own ``decode_publish``), and all of one wake-up's go into aiomqtt's queue as one list;
- every other packet (CONNACK, SUBACK, PINGRESP, a QoS 2 PUBLISH...) is handed to paho's own
  handler, as paho's reader would;
- acknowledgements leave as one write of many PUBACKs (``send_pubacks``).

The hooks use paho's private methods (``_sock_recv``, ``_packet_handle``, ``_loop_rc_handle``,
``_packet_queue``): paho is pinned below its next major version in pyproject for that reason.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from collections.abc import Iterable
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt._packet import decode_publish
from paho.mqtt.client import MalformedPacket
from paho.mqtt.enums import MQTTProtocolVersion

RECEIVE_BYTES = 65536
# Socket reads per wake-up at most: a flood does not keep the event loop from everything else
# (what is left wakes the loop again at once).
RECEIVES_PER_WAKE = 16
_PUBLISH = 0x30
_PUBACK = struct.Struct("!BBH")
_OK = mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
_LOST = mqtt.MQTTErrorCode.MQTT_ERR_CONN_LOST
_PROTOCOL = mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL


# One PUBLISH as the source needs it: (topic, payload, packet id, QoS). A plain tuple: a named one
# cost as much to build as the rest of the frame's handling.
Publish = tuple[str, Any, int, int]


def install(client: aiomqtt.Client, manual_ack: bool) -> None:
    """Read ``client``'s socket in bulk from now on (call it before it connects).

    ``manual_ack``: QoS 1 messages are acknowledged by the caller (``send_pubacks``) once
    stored; otherwise each wake-up's are acknowledged together as soon as they are read."""
    reader = _FrameReader(client, manual_ack)
    client._client.loop_read = reader.loop_read  # type: ignore[method-assign]


def send_pubacks(client: aiomqtt.Client, mids: Iterable[int]) -> None:
    """Acknowledge QoS 1 messages in one write (a PUBACK is four bytes in MQTT 3.1.1 and 5)."""
    packet = b"".join(_PUBACK.pack(0x40, 2, mid) for mid in mids)
    if packet:
        paho: Any = client._client
        paho._packet_queue(0x40, packet, 0, 0)


def messages_of(item: list[Publish] | aiomqtt.Message) -> list[Publish]:
    """An entry of aiomqtt's queue as messages: a bulk read's list, or one ``aiomqtt.Message``
    (a packet paho handled itself, e.g. QoS 2)."""
    if isinstance(item, list):
        return item
    return [(str(item.topic), item.payload, item.mid, item.qos)]


class _FrameReader:
    """paho's ``loop_read``: everything the socket holds, cut into MQTT frames."""

    def __init__(self, client: aiomqtt.Client, manual_ack: bool) -> None:
        self._client = client
        self._paho: Any = client._client
        self._queue: Any = client._queue
        self._manual_ack = manual_ack
        self._sock: object = None
        self._buffer = bytearray()
        self._took: list[Publish] = []
        self._acks: list[int] = []

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        paho = self._paho
        if paho._sock is None:
            return mqtt.MQTTErrorCode.MQTT_ERR_NO_CONN
        if paho._sock is not self._sock:  # a new connection: nothing of the old one counts
            self._sock, self._buffer = paho._sock, bytearray()
        received = self._receive()
        try:
            rc = self._frames()
        finally:
            self._hand_over()
        if rc == _OK:
            rc = received
        return paho._loop_rc_handle(rc) if rc else _OK

    def _receive(self) -> mqtt.MQTTErrorCode:
        paho = self._paho
        # TLS hands over a record at a time, and what it has decrypted or read ahead wakes nobody:
        # read a TLS link until it has nothing, and if the bound stops us first, come back at once.
        tls = isinstance(paho._sock, ssl.SSLSocket)
        for _ in range(RECEIVES_PER_WAKE):
            try:
                data = paho._sock_recv(RECEIVE_BYTES)  # paho's own: TLS want-read as BlockingIOError
            except BlockingIOError:
                return _OK
            except OSError:
                return _LOST
            if not data:
                return _LOST
            self._buffer += data
            with paho._msgtime_mutex:
                paho._last_bytes_received = mqtt.time_func()
            if len(data) < RECEIVE_BYTES and not tls:
                return _OK  # the kernel's buffer is empty; more wakes the loop again
        if tls:
            asyncio.get_running_loop().call_soon(self._read_again)
        return _OK

    def _read_again(self) -> None:
        if self._paho._sock is not None:
            self.loop_read()

    def _frames(self) -> mqtt.MQTTErrorCode:
        """Handle every whole frame in the buffer; a partial one waits for its remaining bytes."""
        buf, pos, end = self._buffer, 0, len(self._buffer)
        mqtt5 = self._paho._protocol == MQTTProtocolVersion.MQTTv5
        rc = _OK
        while end - pos >= 2:
            header, length, mult, at, whole = buf[pos], 0, 1, pos + 1, False
            while at < end and at - pos <= 4:  # the remaining length: up to 4 bytes of 7 bits
                byte = buf[at]
                length, mult, at = length + (byte & 127) * mult, mult * 128, at + 1
                if not byte & 128:
                    whole = True
                    break
            if not whole:
                if at - pos > 4:
                    rc = _PROTOCOL  # a fifth length byte: a broken peer
                break  # or the length's last bytes are still coming
            body, after = at, at + length
            if after > end:
                break
            if header & 0xF0 == _PUBLISH and header & 0x06 != 0x04:
                rc = self._publish(header, buf, body, after, mqtt5)
            else:
                rc = self._to_paho(header, bytearray(buf[body:after]))
            pos = after
            if rc:
                break
        del buf[:pos]
        return rc

    def _publish(self, header: int, buf: bytearray, body: int, after: int, mqtt5: bool) -> mqtt.MQTTErrorCode:
        qos = (header >> 1) & 3
        if mqtt5:  # properties follow the packet id: paho reads them
            try:
                decoded = decode_publish(header, bytes(buf[body:after]), self._paho._protocol)
            except MalformedPacket:
                return _PROTOCOL
            topic_bytes, payload, mid = decoded.topic, decoded.payload, decoded.mid
        else:
            if after - body < 2:
                return _PROTOCOL
            start = body + 2 + ((buf[body] << 8) | buf[body + 1])
            topic_bytes = bytes(buf[body + 2 : start])
            mid = (buf[start] << 8) | buf[start + 1] if qos else 0
            start += 2 if qos else 0
            if start > after or not topic_bytes:
                return _PROTOCOL
            payload = bytes(buf[start:after])
        self._took.append((topic_bytes.decode("utf-8", "replace"), payload, mid, qos))
        if qos == 1 and not self._manual_ack:
            self._acks.append(mid)
        return _OK

    def _to_paho(self, header: int, body: bytearray) -> mqtt.MQTTErrorCode:
        """One packet through paho's own handler, as its reader would have handed it over."""
        self._hand_over()  # what came before it is delivered first
        paho = self._paho
        paho._in_packet = _in_packet(header, body)
        try:
            rc: mqtt.MQTTErrorCode = paho._packet_handle()
        except MalformedPacket:
            rc = _PROTOCOL
        finally:
            paho._in_packet = _in_packet(0, bytearray())
        return rc

    def _hand_over(self) -> None:
        if self._took:
            self._queue.put_nowait(self._took)
            self._took = []
        if self._acks:
            send_pubacks(self._client, self._acks)
            self._acks = []


def _in_packet(command: int, body: bytearray) -> dict[str, Any]:
    """paho's record of the packet being read, as its reader leaves it once a packet is whole."""
    return {
        "command": command,
        "have_remaining": 1 if command else 0,
        "remaining_count": [],
        "remaining_mult": 1,
        "remaining_length": len(body),
        "packet": body,
        "to_process": 0,
        "pos": 0,
    }
