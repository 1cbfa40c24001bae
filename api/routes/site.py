"""The site as the dashboard draws it: name, plan, devices with their places, channels with units,
resolution and limits; the plan image itself; and who the caller is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse

from api.auth import Viewer
from api.channel_limits import channel_limits
from api.deps import RuntimeDep
from api.identity import Identity
from gateway.config import CraneRuleConfig, SiteConfig, WindRuleConfig, match_channels
from gateway.config.site_plan import PLAN_TYPES, check_plan, plan_path
from gateway.runtime import Runtime

router = APIRouter(tags=["site"])

PLAN_URL = "/api/v1/site/plan"
# An SVG plan is shown in an <img> (where scripts never run); opened on its own it gets no rights.
PLAN_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _plan_file(runtime: Runtime) -> Path | None:
    plan = runtime.config.site.plan
    if plan is None or check_plan(plan, runtime.base_dir):
        return None
    return plan_path(plan, runtime.base_dir)


def _panels(config: SiteConfig, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """What the crane and wind panels draw: each crane's channels and load chart, each
    anemometer's rule (levels, working limit)."""
    cranes, winds = [], []
    for rule in config.rules:
        if isinstance(rule, CraneRuleConfig):
            for load in [c for p in rule.channels for c in match_channels(p, ids)]:
                device = load.rsplit(".", 1)[0]
                cranes.append(
                    {
                        "rule": rule.id,
                        "device": device,
                        "load": load,
                        "radius": rule.radius,
                        "height": next((c for c in ids if c == f"{device}.height"), None),
                        "slew": next((c for c in ids if c == f"{device}.slew"), None),
                        "load_ratio": f"{device}.load_ratio",
                        "moment_ratio": f"{device}.moment_ratio",
                        "chart": [list(point) for point in rule.chart],
                        "ratios": {
                            "yellow": rule.ratios.yellow,
                            "orange": rule.ratios.orange,
                            "red": rule.ratios.red,
                        },
                    }
                )
        elif isinstance(rule, WindRuleConfig):
            for speed in [c for p in rule.channels for c in match_channels(p, ids)]:
                device = speed.rsplit(".", 1)[0]
                winds.append(
                    {
                        "rule": rule.id,
                        "device": device,
                        "speed": speed,
                        "means": {q: f"{device}.{q}" for q in ("wind_3s", "wind_2min", "wind_10min", "gust")},
                        "level": f"{device}.wind_level",
                        "mean": rule.mean,
                        "watch_level": rule.watch_level,
                        "stop_lifting_level": rule.stop_lifting_level,
                        "working_limit": rule.working_limit,
                    }
                )
    return {"cranes": cranes, "winds": winds}


@router.get("/site")
def site(runtime: RuntimeDep, _role: Viewer) -> dict[str, Any]:
    """Name, plan, every device (name, position, place on the plan, channels) and every channel
    (unit, range, resolution, the limits its rules judge it against); ``cranes`` and ``winds``:
    what each crane's and anemometer's rule says (channels, load chart, levels)."""
    config = runtime.config
    entries = runtime.site.channels
    limits = channel_limits(config, entries)
    plan = _plan_file(runtime)
    by_device: dict[str, list[str]] = {}
    for entry in entries:
        by_device.setdefault(entry.device.id, []).append(entry.id)
    return {
        "id": config.site.id,
        "name": config.site.name or config.site.id,
        "timezone": config.site.timezone,
        "plan": None if plan is None else {"url": PLAN_URL, "type": PLAN_TYPES[plan.suffix.lower()]},
        "devices": [
            {
                "id": d.id,
                "type": d.type,
                "name": d.name or d.id,
                "position": d.position,
                "plan_xy": list(d.plan_xy) if d.plan_xy is not None else None,
                "channels": by_device.get(d.id, []),
            }
            for d in config.devices
        ],
        "channels": [
            {
                "id": e.id,
                "device": e.device.id,
                "quantity": e.quantity,
                "unit": e.config.unit,
                "description": e.config.description,
                "range": list(e.config.range) if e.config.range is not None else None,
                "resolution": e.config.resolution,
                "derived_by": e.derived_by,
                "limits": limits[e.id],
            }
            for e in entries
        ],
        **_panels(config, [e.id for e in entries]),
    }


@router.get(
    "/site/plan",
    response_class=FileResponse,
    responses={
        200: {"content": {t: {} for t in sorted(set(PLAN_TYPES.values()))}, "description": "the plan"}
    },
)
def site_plan(runtime: RuntimeDep, _role: Viewer) -> FileResponse:
    """The site plan image named by ``site.plan`` (404 when the site file names none)."""
    plan = _plan_file(runtime)
    if plan is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the site file names no plan (site.plan)")
    return FileResponse(
        plan,
        media_type=PLAN_TYPES[plan.suffix.lower()],
        headers={"Content-Security-Policy": PLAN_CSP, "X-Content-Type-Options": "nosniff"},
    )


@router.get("/me")
def me(request: Request, _role: Viewer) -> dict[str, Any]:
    """Who the token names: ``person`` (null for a role token or none) and ``role``."""
    identity = getattr(request.state, "identity", None)
    if not isinstance(identity, Identity):
        identity = Identity(_role)
    return {"person": identity.person, "role": identity.role}
