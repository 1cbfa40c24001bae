"""Who a request comes from: a person (``api.users``) or, for older site files, a role token.

The audit trail records ``Identity.actor``: the person's name when the token is a person's. A
role token (``api.tokens``) names no one, so its actor is the role alone. ``X-Actor`` and any other
header a client sets are not trusted for identity: anyone holding a shared token could write any
name there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import Request

from gateway.config import ApiConfig


@dataclass(frozen=True, slots=True)
class Identity:
    role: str
    person: str | None = None  # None: a role token or no token, which name nobody

    @property
    def actor(self) -> str:
        return self.person if self.person is not None else self.role


def token_holders(api: ApiConfig, env: Mapping[str, str] | None = None) -> list[tuple[bytes, Identity]]:
    """Each token set in the environment with whom it identifies; unset ones are left out
    (check-config has refused them already, naming key and variable)."""
    env = os.environ if env is None else env
    holders: list[tuple[bytes, Identity]] = []
    for token in api.tokens:
        value = env.get(token.env, "")
        if value:
            holders.append((value.encode(), Identity(token.role)))
    for user in api.users:
        value = env.get(user.token_env, "")
        if value:
            holders.append((value.encode(), Identity(user.role, user.name.strip())))
    return holders


def actor_of(request: Request, role: str) -> str:
    """What the audit trail records for this request's change. ``role`` is the one the route's
    dependency checked (kept in the signature: every route passes it)."""
    identity = getattr(request.state, "identity", None)
    return identity.actor if isinstance(identity, Identity) else role
