"""One problem found in a site file: where (key path) and what."""

from __future__ import annotations

from dataclasses import dataclass

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    path: KeyPath
    message: str
