"""The shared vocabulary: readings, alarm events, records for sinks, quality bits and errors.

Every room imports these names from here; this package imports nothing else of the project.
"""

from gateway.vocab.broker_url import BrokerUrl, parse_broker_url
from gateway.vocab.cycles import CraneCycle, SiteCycle
from gateway.vocab.errors import (
    AlarmConflictError,
    AlarmNotFoundError,
    ConfigError,
    DestinationBusyError,
    GatewayError,
    RetryableSinkError,
    SinkRejectedError,
    SourceError,
)
from gateway.vocab.events import AlarmEvent, AlarmState, Grade, iso_utc, new_event_id
from gateway.vocab.quality_bits import Quality
from gateway.vocab.readings import ChannelMeta, ReadingBatch, SourceBatch
from gateway.vocab.records import Delivery, ForwardChunk, RecordKind, SinkBatch

__all__ = [
    "AlarmConflictError",
    "AlarmEvent",
    "AlarmNotFoundError",
    "AlarmState",
    "BrokerUrl",
    "ChannelMeta",
    "ConfigError",
    "CraneCycle",
    "Delivery",
    "DestinationBusyError",
    "ForwardChunk",
    "GatewayError",
    "Grade",
    "Quality",
    "ReadingBatch",
    "RecordKind",
    "RetryableSinkError",
    "SinkBatch",
    "SinkRejectedError",
    "SiteCycle",
    "SourceBatch",
    "SourceError",
    "iso_utc",
    "new_event_id",
    "parse_broker_url",
]
