"""Data that flows through the gateway: batches of readings and alarm events.

Readings travel as a struct of arrays (one numpy array per field), never as one Python object per
reading, so the analytics core can take them as they are.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt


class Quality:
    """Quality flags of one reading (a uint8 bit set).

    Values below ``BAD`` are usable: the analytics judge them. ``TIME_ESTIMATED`` marks a good value
    whose timestamp is the arrival time because the device sent none.
    """

    GOOD = 0x00
    TIME_ESTIMATED = 0x01
    BAD = 0x10  # any flag at or above this bit makes the value unusable
    BAD_COMM = 0x10  # timeout, CRC error, device gone
    BAD_VALUE = 0x20  # NaN, inf, non-numeric, sentinel "no value"
    BAD_RANGE = 0x40  # outside the channel's physical range

    @staticmethod
    def is_good(quality: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
        return quality < Quality.BAD

    @staticmethod
    def describe(flags: int) -> str:
        names = [
            name
            for name, bit in (
                ("time_estimated", Quality.TIME_ESTIMATED),
                ("bad_comm", Quality.BAD_COMM),
                ("bad_value", Quality.BAD_VALUE),
                ("bad_range", Quality.BAD_RANGE),
            )
            if flags & bit
        ]
        return ",".join(names) or "good"


@dataclass(frozen=True, slots=True)
class ReadingBatch:
    """Readings of any channels, in arrays of equal length.

    ``ts`` is the acquisition time in epoch seconds (UTC), taken when the value was read on the wire
    or given by the device, never when it was converted. ``channel`` holds column numbers of the
    site's channel index.
    """

    ts: npt.NDArray[np.float64]
    channel: npt.NDArray[np.int32]
    value: npt.NDArray[np.float64]
    quality: npt.NDArray[np.uint8]

    def __post_init__(self) -> None:
        n = len(self.ts)
        if not (len(self.channel) == len(self.value) == len(self.quality) == n):
            raise ValueError("ReadingBatch arrays must have equal length")

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def empty(cls) -> ReadingBatch:
        return cls.from_lists([], [], [], [])

    @classmethod
    def from_lists(
        cls,
        ts: Sequence[float],
        channel: Sequence[int],
        value: Sequence[float],
        quality: Sequence[int],
    ) -> ReadingBatch:
        return cls(
            ts=np.asarray(ts, dtype=np.float64),
            channel=np.asarray(channel, dtype=np.int32),
            value=np.asarray(value, dtype=np.float64),
            quality=np.asarray(quality, dtype=np.uint8),
        )

    @classmethod
    def concat(cls, batches: Sequence[ReadingBatch]) -> ReadingBatch:
        if not batches:
            return cls.empty()
        if len(batches) == 1:
            return batches[0]
        return cls(
            ts=np.concatenate([b.ts for b in batches]),
            channel=np.concatenate([b.channel for b in batches]),
            value=np.concatenate([b.value for b in batches]),
            quality=np.concatenate([b.quality for b in batches]),
        )


class Grade(IntEnum):
    NORMAL = 0
    YELLOW = 1
    ORANGE = 2
    RED = 3


class AlarmState:
    RAISED = "raised"
    ESCALATED = "escalated"
    DEESCALATED = "deescalated"
    CLEARED = "cleared"

    @staticmethod
    def of_transition(old_grade: int, new_grade: int) -> str:
        if old_grade == 0:
            return AlarmState.RAISED
        if new_grade == 0:
            return AlarmState.CLEARED
        return AlarmState.ESCALATED if new_grade > old_grade else AlarmState.DEESCALATED


def iso_utc(epoch_s: float) -> str:
    """ISO 8601 in UTC with millisecond precision and a ``Z``."""
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_event_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """One change of an alarm, as the contract names it (replay output, MQTT and API alike).

    ``id`` identifies this event (consumers drop duplicates by it); ``alarm_id`` is the alarm the
    event belongs to, shared by its raised ... cleared events.
    """

    site: str
    ts: float
    channel: str
    rule: str
    grade: int
    state: str
    value: float | None
    limit: float | None
    unit: str
    message: str
    alarm_id: str
    id: str = field(default_factory=new_event_id)
    forecast: dict[str, Any] | None = None
    # What the rule judged, for messages (``gateway.alarms.wording``): ``kind`` and its numbers.
    detail: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        event: dict[str, Any] = {
            "id": self.id,
            "alarm_id": self.alarm_id,
            "site": self.site,
            "ts": iso_utc(self.ts),
            "channel": self.channel,
            "rule": self.rule,
            "grade": self.grade,
            "state": self.state,
            "value": self.value,
            "limit": self.limit,
            "unit": self.unit,
            "message": self.message,
        }
        if self.forecast is not None:
            event["forecast"] = self.forecast
        if self.detail is not None:
            event["detail"] = self.detail
        return event

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class SinkBatch:
    """What the pipeline hands to every sink: readings, the alarm events they caused and the crane
    working cycles they completed (JSON-ready dicts with an ``id``, a ``crane`` and a ``start``)."""

    readings: ReadingBatch
    events: tuple[AlarmEvent, ...] = ()
    cycles: tuple[dict[str, Any], ...] = ()


class RecordKind:
    """What a forward queue carries; each kind has its own table in the local store."""

    READINGS = "readings"
    EVENTS = "events"
    CYCLES = "cycles"
    ALL = ("events", "cycles", "readings")  # the order a destination sends them in


@dataclass(frozen=True, slots=True)
class ChannelMeta:
    """What a destination needs to name a channel: its id, device, quantity and unit."""

    id: str
    device: str
    quantity: str
    unit: str = ""


@dataclass(frozen=True, slots=True)
class ForwardChunk:
    """One message's worth of stored records for one destination (one queue segment).

    ``id`` is stable across resends and restarts (``<site>-<kind>-<first_seq>-<last_seq>``), so
    the far side can drop a duplicate chunk; each record carries its own ``seq`` too. Readings are
    a struct of arrays (``channel`` holds column numbers of the site's channel index); events and
    cycles are their JSON documents, each with its own ``id``. ``live`` chunks were just made;
    the others come from the backlog.
    """

    id: str
    site: str
    kind: str
    segment: int
    seq: npt.NDArray[np.int64]
    ts: npt.NDArray[np.float64]
    channel: npt.NDArray[np.int32] = field(default_factory=lambda: np.empty(0, np.int32))
    value: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0, np.float64))
    quality: npt.NDArray[np.uint8] = field(default_factory=lambda: np.empty(0, np.uint8))
    documents: tuple[str, ...] = ()
    live: bool = False
    also: tuple[int, ...] = ()  # further queue segments this chunk covers (merged for sending)

    @property
    def segments(self) -> tuple[int, ...]:
        return (self.segment, *self.also)

    def __len__(self) -> int:
        return len(self.seq)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a destination did with a chunk: all taken, or some records refused for good."""

    rejected: int = 0
    reason: str | None = None
