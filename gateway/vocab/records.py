"""What crosses the seam to sinks and destinations: a sink batch, forward chunks and deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from gateway.vocab.cycles import SiteCycle
from gateway.vocab.events import AlarmEvent
from gateway.vocab.readings import ReadingBatch


@dataclass(frozen=True, slots=True)
class SinkBatch:
    """What the pipeline hands to every sink: readings, the alarm events they caused and the crane
    working cycles they completed."""

    readings: ReadingBatch
    events: tuple[AlarmEvent, ...] = ()
    cycles: tuple[SiteCycle, ...] = ()


class RecordKind:
    """What a forward queue carries; each kind has its own table in the local store."""

    READINGS = "readings"
    EVENTS = "events"
    CYCLES = "cycles"
    ALL = ("events", "cycles", "readings")  # the order a destination sends them in


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
