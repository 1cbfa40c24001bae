"""Weather warnings: CAP documents in (the platform), the active and recent ones, and a
supervisor's acknowledgement with the actions done ticked."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import PlatformOrAdmin, Supervisor, Viewer
from api.deps import RuntimeDep
from api.identity import actor_of
from api.times import iso_times
from drivers.cap.parse import CapError
from gateway.vocab import AlarmConflictError, AlarmNotFoundError
from gateway.weather import WarningNotFoundError

router = APIRouter(tags=["warnings"])

CAP_BODY = {
    "requestBody": {
        "required": True,
        "description": "one CAP 1.2 alert (XML, any declared encoding; at most 1 MiB)",
        "content": {"application/xml": {"schema": {"type": "string"}}},
    }
}


class Applied(BaseModel):
    change: str = Field(description="issued, updated, ended or recorded")
    note: str
    warning: dict[str, Any]


class Received(BaseModel):
    applied: list[Applied]


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    done: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=100, description="ids of the actions done"
    )
    note: Annotated[str, Field(max_length=2000)] = ""


@router.post("/warnings/cap", openapi_extra=CAP_BODY, response_model=Received)
async def receive_cap(request: Request, runtime: RuntimeDep, _role: PlatformOrAdmin) -> Received:
    """An official warning (CAP 1.2): Alert, Update, Cancel, Ack or Error. A refused document is
    answered 422 (413 when too large) naming the reason (malformed_xml, forbidden_xml,
    wrong_namespace, missing_element, bad_value, bad_date, bad_references, bad_area, bad_encoding)."""
    document = await request.body()
    try:
        applied = await runtime.weather.desk.receive(document)
    except CapError as exc:
        code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if exc.reason == "too_large" else 422
        raise HTTPException(code, f"refused CAP document: {exc}") from None
    return Received(applied=[Applied(change=a.change, note=a.note, warning=a.record.view()) for a in applied])


@router.get("/warnings")
def warnings(
    runtime: RuntimeDep,
    _role: Viewer,
    state: Literal["all", "in_force", "ended"] = "all",
    local: bool | None = Query(default=None, description="only the site's own (true) or official (false)"),
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[dict[str, Any]]:
    """Warnings in force first (newest change first), then the recent others (7 days)."""
    out = []
    for record in runtime.weather.desk.listing():
        if state == "in_force" and not record.in_force:
            continue
        if state == "ended" and record.in_force:
            continue
        if local is not None and record.local != local:
            continue
        out.append(record.view())
        if len(out) >= limit:
            break
    return out


@router.get("/warnings/{warning_id}")
async def warning(warning_id: str, runtime: RuntimeDep, _role: Viewer) -> dict[str, Any]:
    """One warning with its audit trail (each message applied, the acknowledgement)."""
    try:
        record = runtime.weather.desk.find(warning_id)
    except WarningNotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no warning {warning_id!r}") from None
    view = record.view()
    view["audit"] = iso_times(await runtime.weather.desk.audit_trail(warning_id))
    return view


@router.post("/warnings/{warning_id}/ack")
async def acknowledge(
    warning_id: str, request: Request, runtime: RuntimeDep, role: Supervisor, body: AckBody | None = None
) -> dict[str, Any]:
    """A supervisor has seen the warning; ``done`` ticks the actions carried out. The site alarm
    the warning raised, if still open, is acknowledged with it (its escalation stops)."""
    body = body or AckBody()
    actor = actor_of(request, role)
    try:
        record = await runtime.weather.desk.acknowledge(warning_id, actor, body.done, body.note)
    except WarningNotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no warning {warning_id!r}") from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    alarm = runtime.desk.records.get(record.alarm_id or "")
    if alarm is not None and alarm.status == "open":
        with contextlib.suppress(AlarmConflictError, AlarmNotFoundError):  # acted on meanwhile
            await runtime.desk.ack(alarm.id, actor, body.note or "weather warning acknowledged")
    return record.view()
