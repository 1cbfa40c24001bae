"""Bearer tokens with roles: viewer reads, supervisor acts on alarms, admin manages the gateway;
platform (the smart-site platform's machine token) reads like a viewer and posts weather warnings.

A token is a person's (``api.users``: the audit trail names them) or a role's (``api.tokens``);
``api.identity`` says which.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from api.identity import Identity, token_holders
from gateway.config import ApiConfig

ROLE_RANK = {"none": 0, "viewer": 1, "platform": 1, "supervisor": 2, "admin": 3}


class TokenTable:
    """Tokens read from the environment once, at start-up (never from the config file itself)."""

    def __init__(self, api: ApiConfig) -> None:
        self._tokens = token_holders(api)
        self.anonymous_role = api.anonymous_role

    def role_of(self, authorization: str | None) -> str:
        return self.identify(authorization).role

    def identify(self, authorization: str | None) -> Identity:
        if not authorization:
            if self.anonymous_role == "none":
                raise HTTPException(
                    status.HTTP_401_UNAUTHORIZED,
                    "a bearer token is required",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return Identity(self.anonymous_role)
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or not presented:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "use 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        found = None
        for secret, holder in self._tokens:
            # Compare every token in constant time so timing tells nothing about which matched.
            if hmac.compare_digest(secret, presented.strip().encode()):
                found = holder
        if found is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "unknown token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return found


def require(minimum: str) -> Callable[[Request], str]:
    def check(request: Request) -> str:
        tokens: TokenTable = request.app.state.tokens
        identity = tokens.identify(request.headers.get("authorization"))
        if ROLE_RANK[identity.role] < ROLE_RANK[minimum]:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {minimum} role")
        request.state.identity = identity  # the audit trail's actor (api.identity.actor_of)
        return identity.role

    return check


def require_one_of(*roles: str) -> Callable[[Request], str]:
    """Exactly these roles (not ranked): the platform may post warnings, a supervisor may not."""

    def check(request: Request) -> str:
        tokens: TokenTable = request.app.state.tokens
        role = tokens.role_of(request.headers.get("authorization"))
        if role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {' or '.join(roles)} role")
        return role

    return check


Viewer = Annotated[str, Depends(require("viewer"))]
Supervisor = Annotated[str, Depends(require("supervisor"))]
PlatformOrAdmin = Annotated[str, Depends(require_one_of("platform", "admin"))]
