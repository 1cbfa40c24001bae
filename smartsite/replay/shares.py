"""Each worker's share of a site as a site of its own: its devices and the rules that judge them.

The core vectorises over every column of its site, so a worker given the whole site would do the
whole site's work on empty columns. A share is the site cut down to the worker's devices and the
rules with a binding on them (in the site file's order), so its engine is as wide as its channels.
The numbering differs from the whole site's, so a share comes with both maps: the share's column
of every site column (-1: another share's), and the site binding of every share binding (by channel
and rule name, which name a binding uniquely).

One thing of the core depends on a row's position in its table rather than on its channel: trend
tables stagger their rows' slot grids (``analytics.robust.stagger``), so a row's slots would start
elsewhere in a smaller table, and its rate come out otherwise. A share therefore carries the site's
slot phase of each of its trend rows, and its engine is given them once built (``engine_of``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics import Engine
from analytics.robust import SlotWindows
from gateway.config import SiteConfig
from gateway.site import Site

PhaseKey = tuple[str, str, str]  # (table kind, rule id, channel id)


@dataclass(frozen=True, slots=True)
class Share:
    config: SiteConfig
    to_local: npt.NDArray[np.int32]  # per site column: the share's column, or -1
    to_global: npt.NDArray[np.intp]  # per share binding: the site's binding
    phases: dict[PhaseKey, float]  # the site's slot phase (s) of each trend row


def _trend_rows(engine: Engine, site: Site) -> list[tuple[SlotWindows, int, PhaseKey]]:
    """(windows, row, key) of every row of every table that keeps slot windows."""
    rows: list[tuple[SlotWindows, int, PhaseKey]] = []
    for judge in engine.judges:
        windows = getattr(judge, "windows", None)
        if not isinstance(windows, SlotWindows):
            continue
        kind = type(judge).__name__
        for row, (column, rule) in enumerate(zip(windows.channel.tolist(), judge.rule.tolist(), strict=True)):
            rows.append((windows, row, (kind, site.config.rules[rule].id, site.index.ids[column])))
    return rows


def engine_of(share: Share) -> Engine:
    """The share's engine, its trend rows on the site's slot grids."""
    site = Site(share.config)
    engine, _ = site.analytics()
    for windows, row, key in _trend_rows(engine, site):
        windows.phase_s[row] = share.phases[key]
    return engine


def plan_shares(site: Site, owner: npt.NDArray[np.int32], workers: int) -> list[Share] | None:
    """The shares of ``owner``'s partition, or None when the cut-down sites do not add up to the
    whole (then the caller replays on one process)."""
    engine, book = site.analytics()
    trend = _trend_rows(engine, site)
    phases = {key: float(w.phase_s[row]) for w, row, key in trend}
    if len(phases) != len(trend):
        return None
    names = [(channel, rule) for channel, rule, _ in book.binding_names()]
    where = {name: i for i, name in enumerate(names)}
    if len(where) != len(names):
        return None
    binding_owner = owner[engine.binding_channel]
    binding_rule = engine.binding_rule
    config = site.config
    shares: list[Share] = []
    covered = np.zeros(len(names), dtype=np.int64)
    for w in range(workers):
        devices = {site.channels[c].device.id for c in np.flatnonzero(owner == w).tolist()}
        rules = set(binding_rule[binding_owner == w].tolist())
        sub = config.model_copy(
            update={
                "devices": [d for d in config.devices if d.id in devices],
                "rules": [r for i, r in enumerate(config.rules) if i in rules],
            }
        )
        part = Site(sub)
        part_engine, part_book = part.analytics()
        if any(key not in phases for _, _, key in _trend_rows(part_engine, part)):
            return None
        to_global = np.array([where.get((c, r), -1) for c, r, _ in part_book.binding_names()], dtype=np.intp)
        if (to_global < 0).any() or (binding_owner[to_global] != w).any():
            return None
        covered[to_global] += 1
        to_local = np.full(len(site.index), -1, dtype=np.int32)
        for c in np.flatnonzero(owner == w).tolist():
            to_local[c] = part.index.column(site.index.ids[c])
        if (to_local[owner == w] < 0).any():
            return None
        mine = {key for _, _, key in _trend_rows(part_engine, part)}
        shares.append(Share(sub, to_local, to_global, {k: v for k, v in phases.items() if k in mine}))
    return shares if bool((covered == 1).all()) else None
