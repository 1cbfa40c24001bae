"""The live stream (server-sent events): readings, alarm changes, crane cycles, device states.

Event types (``event:``), each ``data:`` one JSON document:

- ``hello`` first: the site, the rate granted, the number of clients.
- ``readings``: ``{"readings": [{channel, ts, value, quality}]}``, each channel at most ``rate``
  times a second (of data time), values rounded to the channel's resolution; no ``id``.
- ``alarm_event``: an alarm event as the contract has it (raised, escalated, de-escalated, cleared).
- ``alarm``: an alarm record after a person acted on it (as ``GET /alarms/{id}`` without audit).
- ``cycle``: a crane working cycle; ``device``: a device whose state or link changed.
- ``reset``: what was missed is no longer known (or the gateway restarted): reload the views.
- ``closed``: the gateway is not running; the client reconnects after ``retry``.

Every event but ``readings``, ``hello``, ``reset`` and ``closed`` has an ``id``; a browser's
EventSource reconnects with ``Last-Event-ID`` and gets what it missed from the bounded history.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, status

from api.auth import Viewer
from api.deps import RuntimeDep
from api.sse import EventStream
from gateway.live.feed import DEFAULT_RATE, RATES, frame

router = APIRouter(tags=["events"])

KINDS = ("hello", "readings", "alarm_event", "alarm", "cycle", "device", "reset", "closed")

PING_S = 15.0
# One event of the stream, as OpenAPI describes server-sent events (data is one JSON document).
EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": list(KINDS)},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
}
RETRY_MS = 3000


def _retry(ms: int) -> bytes:
    return f"retry: {ms}\n\n".encode()


@router.get(
    "/events",
    response_model=None,
    responses={
        200: {
            "description": "an endless text/event-stream (see the module's documentation)",
            "content": {"text/event-stream": {"schema": EVENT_SCHEMA}},
        }
    },
)
async def events(
    runtime: RuntimeDep,
    _role: Viewer,
    rate: Annotated[
        float,
        Query(
            ge=min(RATES),
            le=max(RATES),
            allow_inf_nan=False,
            description=f"readings per second per channel, one of {', '.join(f'{r:g}' for r in RATES)}"
            " (another value is taken down to the next of them)",
        ),
    ] = DEFAULT_RATE,
    last_event_id: Annotated[
        str | None, Header(max_length=100, description="the id of the last event received (EventSource)")
    ] = None,
) -> EventStream:
    feed = runtime.live
    hello: dict[str, Any] = {"site": runtime.site.id}
    if not feed.open:
        body = _retry(RETRY_MS) + frame("closed", hello | {"reason": "the gateway is not running"})
        return EventStream(feed, None, body, PING_S)
    try:
        sub = feed.subscribe(rate, last_event_id)
    except LookupError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    hello |= {"rate": sub.rate, "clients": feed.clients, "resumed_from": last_event_id}
    return EventStream(feed, sub, _retry(RETRY_MS) + frame("hello", hello), PING_S)
