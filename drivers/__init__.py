"""Device and network I/O: sources that bring readings in, sinks that push data out.

A source is an async context manager with an async iterator of ReadingBatch; a sink is an async
context manager with ``async write(batch: SinkBatch)`` that raises RetryableSinkError to keep a batch.
"""

from drivers.mqtt_link import MqttLink
from drivers.mqtt_payload import DeviceBinding, decode_payload, parse_timestamp
from drivers.mqtt_source import MqttSource
from drivers.mqtt_uplink import MqttUplink
from drivers.outage import Backoff, OutageLog
from drivers.sink import Sink
from drivers.source import Source
from drivers.sqlite_store import SqliteStore

__all__ = [
    "Backoff",
    "DeviceBinding",
    "MqttLink",
    "MqttSource",
    "MqttUplink",
    "OutageLog",
    "Sink",
    "Source",
    "SqliteStore",
    "decode_payload",
    "parse_timestamp",
]
