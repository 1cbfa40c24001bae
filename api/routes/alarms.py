"""Alarms: list, one with its audit trail, and the people's actions (acknowledge, assign, close)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Supervisor, Viewer
from api.deps import RuntimeDep
from api.identity import actor_of
from api.times import iso_times
from api.validated import FilterTime, SiteTime, epoch_s
from gateway.alarms.record import AlarmRecord
from gateway.alarms.shelving import DurationError
from gateway.runtime import Runtime
from gateway.vocab import AlarmConflictError, AlarmNotFoundError

router = APIRouter(tags=["alarms"])

Note = Annotated[str, Field(max_length=2000)]


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Note = ""


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: Annotated[str, Field(min_length=1, max_length=200)]
    deadline: SiteTime | None = None
    note: Note = ""


class CloseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Annotated[str, Field(min_length=1, max_length=2000, description="the rectification done")]
    override_reason: Annotated[str, Field(max_length=2000)] | None = Field(
        default=None, description="required to close an alarm that is still active in the data"
    )


class ShelveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=1, max_length=2000, description="why it is silenced")]
    duration_s: Annotated[
        float, Field(gt=0, allow_inf_nan=False, description="for how long; at most alarms.max_shelve_s")
    ]


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Note = ""


def _changed(runtime: Runtime, view: dict[str, Any]) -> dict[str, Any]:
    """A person changed the alarm: every live client hears of it (``alarm`` event)."""
    runtime.live.publish("alarm", view)
    return view


async def _acted(runtime: Runtime, change: Awaitable[AlarmRecord]) -> dict[str, Any]:
    """The alarm after a person's action on the desk, heard by every live client; the desk's
    refusals become HTTP errors."""
    try:
        record = await change
    except (AlarmNotFoundError, AlarmConflictError, DurationError) as exc:
        raise _errors(exc) from None
    return _changed(runtime, record.view())


def _errors(exc: Exception) -> HTTPException:
    if isinstance(exc, DurationError):
        return HTTPException(422, str(exc))
    if isinstance(exc, AlarmNotFoundError):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))
    if isinstance(exc, AlarmConflictError):
        return HTTPException(status.HTTP_409_CONFLICT, exc.reason)
    raise exc


@router.get("/alarms")
def alarms(
    runtime: RuntimeDep,
    _role: Viewer,
    state: Literal["all", "active", "cleared", "open", "acknowledged", "rectifying", "closed"] = "all",
    grade: Annotated[int | None, Query(ge=1, le=3, description="at least this grade (max grade)")] = None,
    channel: str | None = None,
    since: FilterTime | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[dict[str, Any]]:
    """Active alarms first (newest change first), then the others."""
    out = []
    since_ts = epoch_s(since) if since is not None else None
    for record in runtime.desk.listing():
        if state == "active" and not record.active:
            continue
        if state == "cleared" and record.active:
            continue
        if state in ("open", "acknowledged", "rectifying", "closed") and record.status != state:
            continue
        if grade is not None and record.max_grade < grade:
            continue
        if channel is not None and record.channel != channel:
            continue
        if since_ts is not None and record.updated < since_ts:
            continue
        out.append(record.view())
        if len(out) >= limit:
            break
    return out


@router.get("/alarms/{alarm_id}")
async def alarm(alarm_id: str, runtime: RuntimeDep, _role: Viewer) -> dict[str, Any]:
    """One alarm with its audit trail (who did what, when)."""
    try:
        record = await runtime.desk.find(alarm_id)
    except AlarmNotFoundError as exc:
        raise _errors(exc) from None
    view = record.view()
    view["audit"] = iso_times(await runtime.desk.audit_trail(alarm_id))
    return view


@router.post("/alarms/{alarm_id}/ack")
async def acknowledge(
    alarm_id: str, request: Request, runtime: RuntimeDep, role: Supervisor, body: AckBody | None = None
) -> dict[str, Any]:
    actor = actor_of(request, role)
    return await _acted(runtime, runtime.desk.ack(alarm_id, actor, (body or AckBody()).note))


@router.post("/alarms/{alarm_id}/assign")
async def assign(
    alarm_id: str, body: AssignBody, request: Request, runtime: RuntimeDep, role: Supervisor
) -> dict[str, Any]:
    deadline = body.deadline.timestamp() if body.deadline is not None else None
    actor = actor_of(request, role)
    return await _acted(runtime, runtime.desk.assign(alarm_id, actor, body.assignee, deadline, body.note))


@router.post("/alarms/{alarm_id}/close")
async def close(
    alarm_id: str, body: CloseBody, request: Request, runtime: RuntimeDep, role: Supervisor
) -> dict[str, Any]:
    """Close (销号) after rectification; supervisors only."""
    actor = actor_of(request, role)
    return await _acted(runtime, runtime.desk.close(alarm_id, actor, body.note, body.override_reason))


@router.post("/alarms/{alarm_id}/shelve")
async def shelve(
    alarm_id: str, body: ShelveBody, request: Request, runtime: RuntimeDep, role: Supervisor
) -> dict[str, Any]:
    """Silence the alarm's pushes and escalation for a bounded time, with a reason (a rise to red
    is still pushed and ends the shelf)."""
    actor = actor_of(request, role)
    return await _acted(runtime, runtime.desk.shelve(alarm_id, actor, body.reason, body.duration_s))


@router.post("/alarms/{alarm_id}/unshelve")
async def unshelve(
    alarm_id: str, request: Request, runtime: RuntimeDep, role: Supervisor, body: NoteBody | None = None
) -> dict[str, Any]:
    actor = actor_of(request, role)
    return await _acted(runtime, runtime.desk.unshelve(alarm_id, actor, (body or NoteBody()).note))
