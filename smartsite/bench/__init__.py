"""``smartsite bench``: the core against a plain per-channel Python baseline, measured in one run."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import Any

from smartsite.bench.data import available_kinds
from smartsite.bench.figures import Figure, Sizes, memory, pushes, replay_figure, streaming
from smartsite.bench.modbus_bus import modbus_dead_slave, modbus_throughput

FIGURES: dict[str, Callable[[Sizes, set[str]], Figure]] = {
    "streaming": streaming,
    "replay": replay_figure,
    "memory": memory,
    "pushes": pushes,
    "modbus_throughput": modbus_throughput,
    "modbus_dead_slave": modbus_dead_slave,
}


def collect(quick: bool = False, only: list[str] | None = None) -> dict[str, Any]:
    """Run the figures; returns ``{"results": [...], "rules": [...], "quick": ...}``."""
    unknown = [name for name in only or [] if name not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; choose from {sorted(FIGURES)}")
    sizes = Sizes.quick() if quick else Sizes()
    kinds = available_kinds() & {"threshold", "rate", "quality"}
    results = [FIGURES[name](sizes, kinds) for name in FIGURES if not only or name in only]
    return {
        "results": [_clean(r.to_dict()) for r in results],
        "rules": sorted(kinds),
        "quick": quick,
    }


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """NaN is not JSON: a figure that could not be computed is null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


def run_bench(as_json: bool = False, quick: bool = False, only: list[str] | None = None) -> int:
    try:
        report = collect(quick=quick, only=only)
    except ValueError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"rules: {', '.join(report['rules'])}{' (quick sizes)' if quick else ''}")
    print(f"{'figure':58} {'core':>14} {'baseline':>14} {'ratio':>8}  target")
    for r in report["results"]:
        print(
            f"{r['name']:58} {_num(r['value'])} {_num(r['baseline'])} {_num(r['ratio'], 8)}x  "
            f"{r['unit']}; {r['target']}"
        )
    return 0


def _num(value: float | None, width: int = 14) -> str:
    if value is None:
        return f"{'n/a':>{width}}"
    return f"{value:>{width},.2f}" if abs(value) < 1000 else f"{value:>{width},.0f}"


__all__ = ["FIGURES", "Figure", "Sizes", "collect", "run_bench"]
