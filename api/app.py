"""The HTTP API and dashboard, built around a runtime. Nothing happens at import."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.auth import TokenTable
from api.device_states import watch_devices
from api.error_answers import install_error_handlers
from api.guard import RequestGuard
from api.problems import PROBLEMS
from api.routes import (
    alarms,
    baselines,
    channels,
    cycles,
    devices,
    events,
    health,
    history,
    metrics,
    site,
    warnings,
)
from gateway.runtime import Runtime

API_PREFIX = "/api/v1"
# The dashboard loads only from the gateway: its own scripts, the API, the plan as a blob.
DASHBOARD_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="smartsite gateway",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.tokens = TokenTable(runtime.config.api)
    app.state.device_states = watch_devices(runtime)
    app.add_middleware(RequestGuard)
    install_error_handlers(app)
    for router in (
        health.router,
        channels.router,
        history.router,
        alarms.router,
        baselines.router,
        devices.router,
        warnings.router,
        site.router,
        cycles.router,
        events.router,
    ):
        app.include_router(router, prefix=API_PREFIX, responses=PROBLEMS)
    app.include_router(metrics.router)
    static = resources.files("api").joinpath("static")
    dashboard = static.joinpath("index.html").read_text(encoding="utf-8")
    # The dashboard's scripts and styles, served by the gateway itself: it works with no internet.
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(dashboard, headers={"Content-Security-Policy": DASHBOARD_CSP})

    return app
