"""What one evaluation runs: a site, frames in scenario time, the ground truth. Built from a scenario.

The scenario side (:mod:`simulators.scenario`, :mod:`simulators.generate`) is read only here, so
the runner and the scoring work on a plain :class:`Plan` (tests build their own).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.config import SiteConfig
from simulators.publish import FrameLike
from smartsite.evaluate.score import Allowance, Expectation

if TYPE_CHECKING:
    from simulators.scenario import Scenario

# Scenario time 0: 2025-06-02 00:00 in Asia/Shanghai (a Monday). Fixed, so a run is reproducible.
DEFAULT_START_TS = 1748793600.0


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    site: SiteConfig
    start_ts: float  # epoch of scenario time 0
    duration_s: float
    frames: Callable[[], Iterable[FrameLike]]
    expectations: tuple[Expectation, ...]
    allowances: tuple[Allowance, ...] = ()
    # Official weather warnings the platform sends: (scenario time, CAP document).
    warnings: tuple[tuple[float, bytes], ...] = ()


def scenario_names() -> list[str]:
    """The shipped scenarios, by name."""
    from simulators.scenario import list_scenarios

    return list_scenarios()


def load_plan(scenario: str | Path) -> Plan:
    """A shipped scenario by name, or a scenario file by path (raises ``ScenarioError``)."""
    from simulators.scenario import find_scenario, load_scenario

    return plan_of(load_scenario(find_scenario(str(scenario))))


def plan_of(scenario: Scenario, site: SiteConfig | None = None) -> Plan:
    """The plan of a loaded scenario (on the site file it names, unless ``site`` is given)."""
    from simulators.cap_documents import documents
    from simulators.generate import readings
    from simulators.scenario import load_site

    config = site if site is not None else load_site(scenario)

    def frames() -> Iterable[FrameLike]:
        return readings(scenario, config)

    return Plan(
        name=scenario.name,
        site=config,
        start_ts=DEFAULT_START_TS,
        duration_s=float(scenario.duration_s),
        frames=frames,
        expectations=tuple(
            Expectation(t.channel, t.rule, int(t.grade), float(t.window_s[0]), float(t.window_s[1]))
            for t in scenario.truth
        ),
        allowances=tuple(Allowance(channel=a.channel, rule=a.rule) for a in scenario.allow),
        warnings=tuple((d.t_s, d.body) for d in documents(scenario.warnings, DEFAULT_START_TS)),
    )


__all__ = ["DEFAULT_START_TS", "Plan", "load_plan", "plan_of", "scenario_names"]
