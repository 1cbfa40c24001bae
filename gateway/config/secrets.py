"""One policy for secrets: every secret the site file names by environment variable must be set.

The site file never holds a secret itself, only the name of the variable (``*_env``, and ``env`` of
an API token). A variable that is unset or empty is refused at check-config (and so at start),
naming the key and the variable, instead of each room deciding alone (write without a token, raise
at first use, log and go on).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from pydantic import BaseModel

from gateway.config.problem import KeyPath, Problem


def _secret_names(model: BaseModel, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    for field in type(model).model_fields:
        value = getattr(model, field)
        here = (*path, field)
        if isinstance(value, str) and (field.endswith("_env") or (field == "env" and "tokens" in path)):
            yield here, value
        elif isinstance(value, BaseModel):
            yield from _secret_names(value, here)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _secret_names(item, (*here, i))
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    yield from _secret_names(item, (*here, str(key)))


def check_secrets(config: BaseModel, env: Mapping[str, str] | None = None) -> list[Problem]:
    env = os.environ if env is None else env
    return [
        Problem(path, f"environment variable {name} is not set")
        for path, name in _secret_names(config, ())
        if not env.get(name)
    ]
