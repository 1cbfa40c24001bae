"""like_named: a call filled from the source's like-named attributes, what differs given by hand."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from gateway.like_named import like_named


@dataclass
class Spec:
    host: str
    port: int
    timeout_s: float = 5.0
    retries: int = 3


def test_like_named_fields_are_copied_and_given_ones_win() -> None:
    source = SimpleNamespace(host="plc1", port=502, timeout_s=1.5, retries=9, unrelated="x")
    assert like_named(Spec, source, retries=0) == Spec("plc1", 502, 1.5, 0)


def test_a_default_is_kept_where_the_source_has_no_such_field() -> None:
    assert like_named(Spec, SimpleNamespace(host="plc1", port=502)) == Spec("plc1", 502)


def test_a_required_field_the_source_lacks_is_an_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="port"):
        like_named(Spec, SimpleNamespace(host="plc1"))


def test_star_parameters_are_never_filled_from_the_source() -> None:
    def target(*args: int, b: int, **rest: int) -> tuple[tuple[int, ...], int, dict[str, int]]:
        return args, b, rest

    source = SimpleNamespace(b=2, args=(3,), rest={"c": 4})
    assert like_named(target, source) == ((), 2, {})
