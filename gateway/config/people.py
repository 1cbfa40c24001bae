"""The people who use the API (``api.users``): a name, a role and a bearer token of their own.

A person's token identifies them: the audit trail of an alarm or a baseline records who acted,
not which role a shared token had. The token itself is never in the site file, only the name of
the environment variable that holds it (``token_env``, checked like every other ``*_env``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from gateway.config.problem import Problem
from gateway.config.strict import Strict

PersonRole = Literal["viewer", "supervisor", "admin"]


class UserConfig(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100, description="as the audit trail shows it")]
    role: PersonRole
    token_env: str = Field(min_length=1, description="environment variable holding this person's token")


def _unique_names(users: list[UserConfig]) -> list[UserConfig]:
    seen: set[str] = set()
    for user in users:
        key = user.name.strip().casefold()
        if not key:
            raise ValueError("a user's name must not be blank")
        if key in seen:
            raise ValueError(f"two users are named {user.name!r}: the audit trail could not tell them apart")
        seen.add(key)
    return users


Users = Annotated[list[UserConfig], AfterValidator(_unique_names)]


def check_people(users: list[UserConfig], token_envs: list[str]) -> list[Problem]:
    """One variable, one holder: a token shared by two people (or by a person and a role token)
    would make the audit trail name the wrong person."""
    problems: list[Problem] = []
    holders: dict[str, str] = {env: f"api.tokens[{i}]" for i, env in enumerate(token_envs)}
    for i, user in enumerate(users):
        other = holders.get(user.token_env)
        if other is not None:
            problems.append(
                Problem(
                    ("api", "users", i, "token_env"),
                    f"{user.token_env} is also the token of {other}: each person needs a token of their own",
                )
            )
        holders.setdefault(user.token_env, f"api.users[{i}] ({user.name})")
    return problems
