from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import RuntimeDep
from api.times import iso_times

router = APIRouter(tags=["health"])


@router.get("/health")
def health(runtime: RuntimeDep) -> dict[str, Any]:
    """Liveness and counters; open to all so a watchdog needs no token."""
    return dict(iso_times(runtime.health()))
