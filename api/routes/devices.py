"""Devices and their maintenance (检修): while in maintenance a device's channels raise no alarm."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Supervisor, Viewer
from api.deps import RuntimeDep
from api.device_states import DeviceStates
from api.identity import actor_of
from api.routes.alarms import NoteBody
from api.times import iso_times
from gateway.alarms.maintenance import NotInMaintenanceError, UnknownDeviceError
from gateway.alarms.shelving import DurationError

router = APIRouter(tags=["devices"])


class MaintenanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=1, max_length=2000, description="the work being done")]
    duration_s: Annotated[
        float, Field(gt=0, allow_inf_nan=False, description="for how long; at most alarms.max_maintenance_s")
    ]


def _errors(exc: Exception) -> HTTPException:
    if isinstance(exc, UnknownDeviceError):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))
    if isinstance(exc, NotInMaintenanceError):
        return HTTPException(status.HTTP_409_CONFLICT, exc.reason)
    if isinstance(exc, DurationError):
        return HTTPException(422, str(exc))
    raise exc


@router.get("/devices")
def devices(request: Request, runtime: RuntimeDep, _role: Viewer) -> list[dict[str, Any]]:
    """Every device of the site file with its channels and maintenance, its ``state`` (``ok``,
    ``stale``, ``failing``, ``bad_data``, ``no_data``, ``maintenance``), its newest good reading,
    each channel's newest reading, its bus errors and its link (``api.device_states``)."""
    states: DeviceStates = request.app.state.device_states
    channels: dict[str, list[str]] = {}
    for entry in runtime.site.channels:
        channels.setdefault(entry.device.id, []).append(entry.id)
    return [
        {
            "id": device.id,
            "type": device.type,
            "name": device.name,
            "position": device.position,
            "plan_xy": list(device.plan_xy) if device.plan_xy is not None else None,
            "channels": channels.get(device.id, []),
            "maintenance": runtime.desk.maintenance_view(device.id),
            **states.view(device),
        }
        for device in runtime.config.devices
        if device.id in runtime.desk.devices
    ]


@router.get("/devices/{device_id}/maintenance")
async def maintenance(device_id: str, runtime: RuntimeDep, _role: Viewer) -> dict[str, Any]:
    """The device's maintenance now (``in_maintenance``, ``since``, ``until``, ``by``, ``reason``)
    and its audit trail."""
    try:
        view = runtime.desk.maintenance_view(device_id)
        view["audit"] = iso_times(await runtime.desk.maintenance_trail(device_id))
    except UnknownDeviceError as exc:
        raise _errors(exc) from None
    return view


@router.post("/devices/{device_id}/maintenance")
async def start_maintenance(
    device_id: str, body: MaintenanceBody, request: Request, runtime: RuntimeDep, role: Supervisor
) -> dict[str, Any]:
    """Put the device in maintenance for a bounded time (again: the new window replaces the old)."""
    try:
        window = await runtime.desk.start_maintenance(
            device_id, actor_of(request, role), body.reason, body.duration_s
        )
    except (UnknownDeviceError, DurationError) as exc:
        raise _errors(exc) from None
    return window.view()


@router.post("/devices/{device_id}/maintenance/end")
async def end_maintenance(
    device_id: str, request: Request, runtime: RuntimeDep, role: Supervisor, body: NoteBody | None = None
) -> dict[str, Any]:
    """End the maintenance now; alarms the data still holds are raised at once."""
    try:
        await runtime.desk.end_maintenance(device_id, actor_of(request, role), (body or NoteBody()).note)
    except (UnknownDeviceError, NotInMaintenanceError) as exc:
        raise _errors(exc) from None
    return runtime.desk.maintenance_view(device_id)
