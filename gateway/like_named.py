"""Calls filled from like-named fields: a runtime spec from its config model, counters from state.

Where the config (or state) and the thing built from it name a value alike, the value is copied
by name instead of spelling ``x=source.x`` once per field; what differs is given by hand.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_BY_NAME = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def like_named(target: Callable[..., T], source: object, /, **given: Any) -> T:
    """``target(**given)``, each other parameter it takes by name filled from ``source``'s attribute
    of that name. A parameter with a default keeps it when ``source`` has no such attribute; one
    without a default that ``source`` lacks raises AttributeError."""
    taken: dict[str, Any] = {}
    for name, parameter in inspect.signature(target).parameters.items():
        if name in given or parameter.kind not in _BY_NAME:
            continue
        if parameter.default is inspect.Parameter.empty or hasattr(source, name):
            taken[name] = getattr(source, name)
    return target(**taken, **given)
