"""Crane working cycles (GB/T 28264: every lift from lift-off to set-down), from the local store."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from api.auth import Viewer
from api.deps import RuntimeDep
from api.routes.history import DEFAULT_WINDOW_S, time_query, time_range
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
    start: Annotated[str | None, time_query("end - 24 h")] = None,
    end: Annotated[str | None, time_query("now")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Cycles that started in ``[start, end)``, newest first, with peak load and ratios, radius,
    height and wind; ``truncated`` when more than ``limit`` matched."""
    start_s, end_s = time_range(start, end, runtime.clock, DEFAULT_CYCLES_WINDOW_S)
    store = runtime.store
    if store is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no local store: cycles are not kept")
    try:
        found, truncated = await store.call(crane_cycles, crane, start_s, end_s, limit)
    except RuntimeError as exc:  # the store not open: the gateway starting or stopping
        log.warning("cycles: local store unavailable: %s", exc)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "local store unavailable") from None
    return {"start": iso_utc(start_s), "end": iso_utc(end_s), "cycles": found, "truncated": truncated}
