from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from api.auth import Viewer
from api.deps import RuntimeDep

router = APIRouter(tags=["alarms"])


@router.get("/alarms")
def alarms(
    runtime: RuntimeDep,
    _role: Viewer,
    status: Literal["all", "active", "cleared"] = "all",
    limit: int = Query(200, ge=1, le=5000),
) -> list[dict[str, Any]]:
    """Active alarms first (newest change first), then recently cleared ones."""
    records = []
    if status in ("all", "active"):
        records += runtime.book.active()
    if status in ("all", "cleared"):
        records += runtime.book.recent_cleared()
    return [r.to_dict() for r in records[:limit]]
