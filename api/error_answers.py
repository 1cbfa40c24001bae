"""Error answers that never fail themselves.

FastAPI's default answer to a validation error echoes each bad input; an input JSON cannot encode
(NaN, a lone surrogate, bytes) turned a 422 into a 500 with a traceback. These handlers answer with
the location, message and type of each error only (the shape OpenAPI documents), and any unexpected
error with a plain 500 that is logged once per kind, never with the exception's text.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    logged: set[str] = set()

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route of the path; name every method it has.
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        kind = f"{request.method} {request.url.path} {type(exc).__name__}"
        if kind not in logged:
            logged.add(kind)
            log.error("api: %s failed", kind, exc_info=exc)
        return JSONResponse({"detail": "internal error; the gateway logged it"}, status_code=500)


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(request.url.path):
            methods |= route.methods or set()
    return sorted(methods)
