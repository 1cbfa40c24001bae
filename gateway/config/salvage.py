"""Every problem of a site file at once: the meaning checks run on what is valid, even when some
parts of the file have type problems.

A list item with a type problem (a device, a rule, a sink, a bus) is left out, and so is a section
(``mqtt``, ``api``, ``alarms``) with one; the rest is validated again and checked for meaning. Paths
and ``rules[3]``-style mentions are mapped back to the file's own indices, and a meaning problem
that only comes from something left out (a rule naming a device whose entry was invalid, or a path
inside a left-out part) is not reported: the type problem already is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from gateway.config.meaning import check_meaning
from gateway.config.models import SiteConfig
from gateway.config.problem import KeyPath, Problem

LIST_SECTIONS = ("buses", "devices", "rules", "sinks")
PLACEHOLDER_SITE = {"id": "site"}


def meaning_despite(data: dict[str, Any], bad_locs: Iterable[tuple[str | int, ...]]) -> list[Problem]:
    """Meaning problems of ``data`` without the parts at ``bad_locs`` (pydantic error locations)."""
    bad_items: dict[str, set[int]] = {s: set() for s in LIST_SECTIONS}
    bad_sections: set[str] = set()
    for loc in bad_locs:
        if not loc or not isinstance(loc[0], str):
            continue
        top = loc[0]
        if top in bad_items and len(loc) > 1 and isinstance(loc[1], int):
            bad_items[top].add(loc[1])
        else:
            bad_sections.add(top)
    kept = dict(data)
    index_maps: dict[str, list[int]] = {}
    dropped_ids: set[str] = set()
    for section, bad in bad_items.items():
        items = data.get(section)
        if section in bad_sections or not isinstance(items, list):
            continue
        index_maps[section] = [i for i in range(len(items)) if i not in bad]
        kept[section] = [items[i] for i in index_maps[section]]
        dropped_ids |= {str(items[i]["id"]) for i in bad if isinstance(items[i], dict) and "id" in items[i]}
    for section in bad_sections:
        kept.pop(section, None)
        if section == "site":
            kept["site"] = PLACEHOLDER_SITE
    try:
        config = SiteConfig.model_validate(kept)
    except ValidationError:
        return []  # what is left does not hold together: the type problems are all we can say
    out: list[Problem] = []
    for problem in check_meaning(config):
        path = _file_path(problem.path, index_maps)
        if path[:1] and path[0] in bad_sections:
            continue
        if any(f"'{d}'" in problem.message or f"'{d}." in problem.message for d in dropped_ids):
            continue
        out.append(Problem(path, _file_mentions(problem.message, index_maps)))
    return out


def _file_path(path: KeyPath, index_maps: dict[str, list[int]]) -> KeyPath:
    if len(path) > 1 and isinstance(path[0], str) and path[0] in index_maps and isinstance(path[1], int):
        return (path[0], index_maps[path[0]][path[1]], *path[2:])
    return path


def _file_mentions(message: str, index_maps: dict[str, list[int]]) -> str:
    def back(m: re.Match[str]) -> str:
        section, i = m[1], int(m[2])
        mapping = index_maps.get(section)
        return f"{section}[{mapping[i]}]" if mapping is not None and i < len(mapping) else m[0]

    return re.sub(r"\b(buses|devices|rules|sinks)\[(\d+)\]", back, message)
