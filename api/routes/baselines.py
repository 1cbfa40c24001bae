"""Baselines of cumulative rules: what each change is measured from, and the audited reset."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Viewer, require
from api.deps import RuntimeDep
from api.identity import actor_of
from gateway.state.baseline_keeping import BaselineFixedError, BaselineNotFoundError

router = APIRouter(tags=["baselines"])

# Moving the reference of "since installation" changes every later judgement: admins only.
Admin = Annotated[str, Depends(require("admin"))]


class ResetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=1, max_length=2000, description="why (kept in the audit trail)")]
    value: float | None = Field(
        default=None,
        allow_inf_nan=False,
        description="the new baseline (a surveyed value); without it the next good reading is taken",
    )


@router.get("/baselines")
def baselines(runtime: RuntimeDep, _role: Viewer) -> list[dict[str, Any]]:
    """Every cumulative rule's baseline per channel: value, where it came from, when it was taken."""
    return runtime.baselines.listing()


@router.get("/baselines/{rule}/{channel}")
async def baseline(rule: str, channel: str, runtime: RuntimeDep, _role: Viewer) -> dict[str, Any]:
    """One baseline with its audit trail."""
    try:
        return await runtime.baselines.find(rule, channel)
    except BaselineNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.post("/baselines/{rule}/{channel}/reset")
async def reset(
    rule: str, channel: str, body: ResetBody, request: Request, runtime: RuntimeDep, role: Admin
) -> dict[str, Any]:
    """Take the baseline again from the next good reading, or set it to ``value``; audited."""
    if not body.reason.strip():
        raise HTTPException(422, "a reason is required")
    try:
        return await runtime.baselines.reset(rule, channel, actor_of(request, role), body.reason, body.value)
    except BaselineNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except BaselineFixedError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
