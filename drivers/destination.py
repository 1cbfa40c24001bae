"""The contract every forwarding destination (platform uplink, InfluxDB) follows."""

from __future__ import annotations

from typing import Protocol

from drivers.outlet import Outlet
from gateway.vocab import Delivery, ForwardChunk


class Destination(Outlet, Protocol):
    """A far side that acknowledges what it takes. Enter it before the first ``send``; ``send`` is
    never called after exit, and never for more than ``in_flight`` readings chunks at once (beside
    one alarm-event or cycle chunk).

    ``send`` returns only once the far side has acknowledged the chunk (MQTT PUBACK, HTTP 2xx), with
    the number of records it refused for good (HTTP 400/422: counted and dropped with the reason).
    It raises RetryableSinkError (DestinationBusyError with the server's Retry-After) to have the
    same chunk sent again later; the forwarder waits with capped, jittered backoff.
    """

    # How many readings sends may run at once (alarm events and cycles: always one at a time).
    in_flight: int

    async def send(self, chunk: ForwardChunk) -> Delivery: ...
