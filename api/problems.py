"""The error answers every operation may give, as the OpenAPI schema documents them.

Each is ``{"detail": ...}``: a sentence, or for a request that fails validation a list of
``{loc, msg, type}`` (``api.error_answers``). Declared once here and attached to every router, so the
published schema and the answers agree (checked by schemathesis in the tests).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Invalid(BaseModel):
    loc: list[str]
    msg: str
    type: str


class Problem(BaseModel):
    detail: str | list[Invalid]


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: _problem("no token, or one the gateway does not know (with WWW-Authenticate: Bearer)"),
    403: _problem("the token's role may not do this"),
    404: _problem("no such alarm, channel, device or baseline"),
    409: _problem("the action does not fit the current state"),
    413: _problem("the body is larger than the gateway accepts (64 KiB)"),
    422: _problem("the request is not valid: a sentence, or each problem with its location"),
    429: _problem("too many changes with this token, or refused ones from this address (Retry-After)"),
    503: _problem("too many connections, or no local store for this"),
}
