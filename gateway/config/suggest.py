"""Did-you-mean for unknown keys: the keys a site-file model allows at a pydantic error location."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel


def allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str] | None:
    """Field names of the model at ``loc`` (a pydantic location, tags of unions included); None if
    the location does not lead to a model."""
    found = _resolve(model, list(loc))
    if found is None:
        return None
    return [field.alias or name for name, field in found.model_fields.items()]


def did_you_mean(key: str, allowed: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest allowed key, or the allowed keys when few."""
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    if len(allowed) <= 8:
        return f" (allowed here: {', '.join(sorted(allowed))})"
    return ""


def _resolve(tp: Any, loc: list[str | int]) -> type[BaseModel] | None:
    tp = _strip(tp)
    if not loc:
        return tp if _is_model(tp) else None
    part, rest = loc[0], loc[1:]
    members = _union_members(tp)
    if members is not None:
        for member in members:
            if _is_model(member) and _tag_of(member) == part:
                return _resolve(member, rest)  # the union's tag is a location part of its own
        for member in members:
            found = _resolve(member, loc)
            if found is not None:
                return found
        return None
    if _is_model(tp):
        field = tp.model_fields.get(str(part))
        if field is None:
            field = next((f for f in tp.model_fields.values() if f.alias == part), None)
        return None if field is None else _resolve(field.annotation, rest)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, tuple) and args and isinstance(part, int):
        return _resolve(args[0], rest)
    if origin is dict and len(args) == 2:
        return _resolve(args[1], rest)
    return None


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _union_members(tp: Any) -> list[Any] | None:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [_strip(a) for a in typing.get_args(tp) if a is not type(None)]
    return None


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _tag_of(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("type")
    if field is None:
        return None
    args = typing.get_args(_strip(field.annotation))
    return args[0] if typing.get_origin(_strip(field.annotation)) is typing.Literal and args else None
