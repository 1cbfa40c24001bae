"""What a warning is about and how severe: event and colour from codes, names and severity, by table.

Feeds differ (GB/T 35561-style ``11B0602`` for gale yellow; others reverse the colour digits or use
their own type numbers), so the mapping lives in ``warning_codes.csv`` and a site file may add codes;
nothing here knows a scheme. Order of evidence: an event code, then the event's name (longest name
first, so 雷雨大风 is not read as 大风), and for the colour the code's suffix, then a colour word in
the event or headline, then the CAP severity.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from drivers.cap.parse import Info

COLOURS = ("blue", "yellow", "orange", "red")  # CMA signal colours, lowest first
EVENTS = ("gale", "rainstorm", "typhoon", "thunder", "snow", "heat", "thunderstorm_gale")


def colour_rank(colour: str | None) -> int:
    """1 blue … 4 red; 0 for none."""
    return COLOURS.index(colour) + 1 if colour in COLOURS else 0


@dataclass(frozen=True, slots=True)
class Kind:
    event: str | None  # one of EVENTS, None when the table knows nothing of it
    colour: str | None  # one of COLOURS
    evidence: str  # code, name or none; and for the colour: suffix, word, severity or none


class WarningCodes:
    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        table: dict[str, dict[str, str]] = {}
        for kind, key, value in rows:
            table.setdefault(kind, {})[key if kind in ("code", "suffix", "severity") else key.lower()] = value
        self._codes = sorted(table.get("code", {}).items(), key=lambda kv: -len(kv[0]))
        self._suffix = table.get("suffix", {})
        self._names = sorted(table.get("name", {}).items(), key=lambda kv: -len(kv[0]))
        self._colours = table.get("colour", {})
        self._severity = table.get("severity", {})

    @classmethod
    def default(cls) -> WarningCodes:
        text = resources.files("drivers.cap").joinpath("warning_codes.csv").read_text(encoding="utf-8")
        return cls([(r["kind"], r["key"], r["value"]) for r in csv.DictReader(text.splitlines())])

    def with_codes(self, codes: Mapping[str, str]) -> WarningCodes:
        """The same table with a site's own type codes (code → event) added."""
        extra = WarningCodes([("code", k, v) for k, v in codes.items()])
        merged = WarningCodes([])
        merged._codes = sorted([*self._codes, *extra._codes], key=lambda kv: -len(kv[0]))
        merged._suffix, merged._names = self._suffix, self._names
        merged._colours, merged._severity = self._colours, self._severity
        return merged

    def classify(self, info: Info) -> Kind:
        event, colour, evidence = None, None, "none"
        for _, value in info.event_codes:
            found = self._code(value.strip())
            if found is not None:
                event, colour = found
                evidence = "code"
                break
        text = f"{info.event} {info.headline}".lower()
        if event is None:
            event = next((e for name, e in self._names if _mentions(text, name)), None)
            evidence = "name" if event is not None else "none"
        if colour is not None:
            return Kind(event, colour, f"{evidence}+suffix")
        colour = next((c for word, c in self._colours.items() if _mentions(text, word)), None)
        if colour is not None:
            return Kind(event, colour, f"{evidence}+word")
        colour = self._severity.get(info.severity)
        return Kind(event, colour, f"{evidence}+severity" if colour else f"{evidence}+none")

    def _code(self, value: str) -> tuple[str, str | None] | None:
        for code, event in self._codes:
            if value.startswith(code):
                return event, self._suffix.get(value[len(code) :])
        return None


def _mentions(text: str, word: str) -> bool:
    """Chinese words as substrings; ASCII ones as whole words ("red" is not in "reduced")."""
    if not word.isascii():
        return word in text
    return re.search(rf"\b{re.escape(word)}\b", text) is not None
