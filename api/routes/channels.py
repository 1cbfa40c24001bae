from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.auth import Viewer
from api.deps import RuntimeDep

router = APIRouter(tags=["channels"])


@router.get("/channels")
def channels(runtime: RuntimeDep, _role: Viewer) -> list[dict[str, Any]]:
    """Every channel with its latest value (rounded to its resolution), acquisition time, quality,
    unit and current grade."""
    rounding = runtime.live.rounding
    return [c | {"value": rounding.value(c["id"], c["value"])} for c in runtime.channels()]
