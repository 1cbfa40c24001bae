"""Which replay worker judges which channels: whole devices, and devices that rules tie together.

A rule that reads several channels must see them all in one process: wind means come from one
anemometer's channels, a crane's ratios from its load and its radius (which may be another device's),
a combined rule from every channel it names. So channels are grouped by device, devices that such a
rule spans are merged, and the groups are dealt to the workers, biggest first, each to the worker
with the fewest sensor channels so far.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gateway.config import CombinedRuleConfig, CraneRuleConfig
from gateway.config.derived import device_of
from gateway.site import Site


class _Groups:
    """Union-find over device ids."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, a: str) -> str:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def join(self, names: list[str]) -> None:
        roots = [self.find(n) for n in names]
        for root in roots[1:]:
            self.parent[root] = roots[0]


def channel_groups(site: Site) -> list[list[int]]:
    """Columns that must stay in one process, in the order of their first column."""
    groups = _Groups()
    devices = [entry.device.id for entry in site.channels]
    for device in devices:
        groups.find(device)
    known = set(devices)
    sources = site.rulebook.context.sources  # the load channels each crane rule matched
    for number, rule in enumerate(site.config.rules):
        if isinstance(rule, CombinedRuleConfig):
            tied = [c.channel for c in rule.all_of]
        elif isinstance(rule, CraneRuleConfig):
            tied = [rule.radius, *sources.get(number, [])]
        else:
            continue
        names = [d for d in (_device(site, c) for c in tied) if d in known]
        if len(names) > 1:
            groups.join(names)
    by_root: dict[str, list[int]] = {}
    for column, device in enumerate(devices):
        by_root.setdefault(groups.find(device), []).append(column)
    return list(by_root.values())


def _device(site: Site, channel: str) -> str:
    """The device of a channel id: the entry's when the site knows it, else by the id's form."""
    column = site.index.column(channel)
    return site.channels[column].device.id if column >= 0 else device_of(channel)


def assign(site: Site, workers: int, first_share: float = 1.0) -> npt.NDArray[np.int32]:
    """The worker (0..workers-1) of every column; never more workers used than groups.

    ``first_share`` is worker 0's capacity against the others' 1.0: the parent, which also reads
    the file and writes the events, judges worker 0's share.
    """
    groups = channel_groups(site)
    first_derived = site.rulebook.first_derived
    owner = np.zeros(len(site.channels), dtype=np.int32)
    n = max(1, workers)
    load = [0.0] * n
    capacity = [first_share if w == 0 else 1.0 for w in range(n)]
    # Weight: the sensor channels of the group (derived ones cost with their sources).
    weight = [max(1, sum(c < first_derived for c in g)) for g in groups]
    for k in sorted(range(len(groups)), key=lambda k: (-weight[k], groups[k][0])):
        worker = min(range(n), key=lambda w: ((load[w] + weight[k]) / capacity[w], w))
        owner[groups[k]] = worker
        load[worker] += weight[k]
    # Workers numbered 0.. as used: with fewer groups than workers the parent (worker 0, of less
    # capacity) may have been passed over, and a worker left without channels is not started.
    used = np.unique(owner)
    return np.searchsorted(used, owner).astype(np.int32)
