"""What every request passes before a route sees it: the role for changes, the body's size, strict JSON.

- A request that changes something (POST, PUT, PATCH, DELETE) needs at least the supervisor role, or
  the platform role (it posts weather warnings): without it the answer is 401/403 before a byte of the
  body is read (an anonymous client cannot make the gateway buffer or parse anything). Routes still
  check their own, stricter roles.
- A few paths take a document, not JSON (a CAP warning): their own size limit, no JSON check.
- A body larger than ``max_body_bytes`` is refused with 413, from its Content-Length at once or as
  soon as a chunked body passes the limit; nothing larger is ever held in memory.
- A JSON body must be strict JSON in UTF-8: NaN, Infinity, numbers that overflow to infinity and lone
  surrogates are refused with 422 (Python's json module accepts all of them, and they would be stored
  and break every later response that echoes them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException
from starlette.routing import Match

from api.auth import ROLE_RANK, TokenTable
from api.rate_limits import CHANGE_BURST, CHANGES_PER_S, REFUSAL_BURST, REFUSALS_PER_S, RateLimit, retry_after

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024  # notes and reasons: far above any real body, far below harm
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CHANGE_ROLE = "supervisor"
OTHER_CHANGE_ROLES = frozenset({"platform"})
# Paths whose body is a document other than JSON, with their size limit (the CAP parser's own).
DOCUMENT_BODIES = {"/api/v1/warnings/cap": 1024 * 1024}


class RequestGuard:
    def __init__(
        self,
        app: App,
        max_body_bytes: int = MAX_BODY_BYTES,
        changes: RateLimit | None = None,
        refusals: RateLimit | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.changes = changes or RateLimit(CHANGES_PER_S, CHANGE_BURST)
        self.refusals = refusals or RateLimit(REFUSALS_PER_S, REFUSAL_BURST)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in CHANGES or not _is_a_route(scope):
            # Not a change, or no operation answers it: the router says 404 or 405 without the body.
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        authorization = headers.get("authorization")
        refusal = _role_refusal(scope, authorization)
        if refusal is not None:
            client = scope.get("client") or ("unknown", 0)
            wait = self.refusals.take(str(client[0]))
            if wait is not None:
                await _answer(send, 429, "too many refused changes from this address", retry_after(wait))
                return
            await _answer(send, *refusal)
            return
        wait = self.changes.take(authorization or "anonymous")
        if wait is not None:
            await _answer(send, 429, "too many changes with this token; try again shortly", retry_after(wait))
            return
        document = scope["path"] in DOCUMENT_BODIES
        limit = DOCUMENT_BODIES.get(scope["path"], self.max_body_bytes)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _answer(send, 413, f"the body is larger than {limit} bytes")
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await _answer(send, 413, f"the body is larger than {limit} bytes")
                return
            if not message.get("more_body", False):
                break
        if body and not document and "json" in headers.get("content-type", "json"):
            problem = strict_json_problem(bytes(body))
            if problem is not None:
                await _answer(send, 422, problem)
                return
        await self.app(scope, _replay(bytes(body), receive), send)


def _is_a_route(scope: Scope) -> bool:
    """Whether an operation of the app takes this method at this path."""
    app = scope.get("app")
    routes = getattr(getattr(app, "router", None), "routes", None)
    if routes is None:
        return True  # not under a Starlette app: guard everything
    return any(route.matches(scope)[0] == Match.FULL for route in routes)


def _role_refusal(scope: Scope, authorization: str | None) -> tuple[int, str, dict[str, str]] | None:
    app = scope.get("app")
    tokens: TokenTable | None = getattr(getattr(app, "state", None), "tokens", None)
    if tokens is None:
        return None
    try:
        role = tokens.role_of(authorization)
    except HTTPException as exc:
        return exc.status_code, str(exc.detail), dict(exc.headers or {})
    if ROLE_RANK[role] >= ROLE_RANK[CHANGE_ROLE] or role in OTHER_CHANGE_ROLES:
        return None
    if not authorization:
        return 401, f"a bearer token with the {CHANGE_ROLE} role is required", {"WWW-Authenticate": "Bearer"}
    return 403, f"this needs the {CHANGE_ROLE} role", {}


def strict_json_problem(body: bytes) -> str | None:
    """Why ``body`` is not strict JSON in UTF-8, or None when it is."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the body is not UTF-8 (byte {exc.start})"
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NotStrict as exc:
        return str(exc)
    except json.JSONDecodeError as exc:
        return f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return "the body is nested too deeply"
    return _text_problem(value)


class _NotStrict(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotStrict(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotStrict(f"the number {text[:20]} is out of range")
    return value


def _text_problem(value: Any) -> str | None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "the body holds a lone surrogate (\\ud800-\\udfff), not valid text"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: only the disconnect is left to wait for

    return replayed


async def _answer(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    payload = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
