"""What rule builders share: the site's channel index and what they add to the compiled core."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from analytics import ChannelIndex
from analytics.table import Deriver, Judge, Screen
from analytics.thresholds import ThresholdSpec
from gateway.config import SiteConfig, match_channels


class _MatchedRule(Protocol):
    @property
    def channels(self) -> list[str]: ...


R = TypeVar("R", bound=_MatchedRule)


@dataclass(slots=True)
class Binding:
    """What the alarm book needs to name a judge's row: channel id, rule name, unit, and for its
    messages the rule kind and fixed facts (``gateway.alarms.wording.Facts``)."""

    channel: str
    rule: str
    unit: str
    kind: str = "threshold"
    facts: dict[str, Any] | None = None


@dataclass(slots=True)
class Compiled:
    judges: list[Judge] = field(default_factory=list)
    screens: list[Screen] = field(default_factory=list)
    derivers: list[Deriver] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)
    # Extra rows for the one threshold table (e.g. crane ratios), with their bindings.
    threshold_specs: list[ThresholdSpec] = field(default_factory=list)
    threshold_bindings: list[Binding] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Context:
    config: SiteConfig
    index: ChannelIndex
    units: list[str]
    sources: dict[int, list[str]]  # sensor channels of the rules that compute channels
    ranges: list[tuple[float, float] | None] = field(default_factory=list)  # per column, for messages

    def rules_of(self, kind: type[R]) -> list[tuple[int, R, list[str]]]:
        """Each rule of one kind: its number in the site file (the judges' rule id), the rule,
        and the channels its patterns match."""
        return [
            (number, rule, self.matched(rule.channels))
            for number, rule in enumerate(self.config.rules)
            if isinstance(rule, kind)
        ]

    def matched(self, patterns: list[str]) -> list[str]:
        return match_all(patterns, list(self.index.ids))

    def columns(self, ids: list[str]) -> npt.NDArray[np.int32]:
        return self.index.columns(ids)

    def unit(self, channel: str) -> str:
        return self.units[self.index.column(channel)]

    def range_of(self, channel: str) -> list[float] | None:
        col = self.index.column(channel)
        found = self.ranges[col] if col < len(self.ranges) else None
        return None if found is None else [float(found[0]), float(found[1])]


def match_all(patterns: list[str], ids: list[str]) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        found += [c for c in match_channels(pattern, ids) if c not in found]
    return found
