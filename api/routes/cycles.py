"""Crane working cycles (GB/T 28264: every lift from lift-off to set-down), from the local store."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from api.auth import Viewer
from api.deps import RuntimeDep
from api.routes.history import DEFAULT_WINDOW_S, TIME_PATTERN, parse_time
from drivers.store_cycles import crane_cycles
from gateway.vocab import iso_utc

log = logging.getLogger(__name__)

router = APIRouter(tags=["cycles"])

DEFAULT_CYCLES_WINDOW_S = 24 * DEFAULT_WINDOW_S


@router.get("/cycles")
async def cycles(
    runtime: RuntimeDep,
    _role: Viewer,
    crane: Annotated[str | None, Query(max_length=128, description="one crane's cycles only")] = None,
    start: Annotated[
        str | None,
        Query(
            description="ISO 8601 with offset, or epoch seconds; default end - 24 h",
            json_schema_extra={"pattern": TIME_PATTERN},
        ),
    ] = None,
    end: Annotated[
        str | None,
        Query(
            description="ISO 8601 with offset, or epoch seconds; default now",
            json_schema_extra={"pattern": TIME_PATTERN},
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Cycles that started in ``[start, end)``, newest first, with peak load and ratios, radius,
    height and wind; ``truncated`` when more than ``limit`` matched."""
    end_s = parse_time("end", end) if end is not None else runtime.clock()
    start_s = parse_time("start", start) if start is not None else max(0.0, end_s - DEFAULT_CYCLES_WINDOW_S)
    if start_s >= end_s:
        raise HTTPException(422, f"start ({iso_utc(start_s)}) must be before end ({iso_utc(end_s)})")
    store = runtime.store
    if store is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no local store: cycles are not kept")
    try:
        found, truncated = await store.call(crane_cycles, crane, start_s, end_s, limit)
    except RuntimeError as exc:  # the store not open: the gateway starting or stopping
        log.warning("cycles: local store unavailable: %s", exc)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "local store unavailable") from None
    return {"start": iso_utc(start_s), "end": iso_utc(end_s), "cycles": found, "truncated": truncated}
