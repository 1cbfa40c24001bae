"""The evaluation report: a table for people, JSON for machines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from smartsite.evaluate.score import ScenarioScore


def report(scores: Sequence[ScenarioScore]) -> dict[str, Any]:
    """``{"scenarios": [{"name", "expected", "detected", "false_alarms", "delays_s", ...}, ...]}``."""
    return {"scenarios": [s.to_dict() for s in scores], "ok": all(s.ok for s in scores)}


def report_json(scores: Sequence[ScenarioScore]) -> str:
    return json.dumps(report(scores), ensure_ascii=False, indent=2)


def _delays(score: ScenarioScore) -> str:
    shown = ["miss" if d is None else f"{d:.0f}" for d in score.delays_s]
    return ", ".join(shown) or "-"


def _kpi_cells(score: ScenarioScore) -> tuple[str, str, str, str]:
    k = score.kpis
    if k is None:
        return ("-", "-", "-", "-")
    return (f"{k.alarms_per_hour:.2f}", str(k.peak_10min), str(k.chattering_pairs), str(k.standing_at_end))


def format_table(scores: Sequence[ScenarioScore]) -> str:
    """One line per scenario, then one line per miss, false alarm and error."""
    header = (
        "scenario", "expected", "detected", "false", "delays s",
        "alarms/h", "peak/10min", "chatter", "standing", "frames", "wall s", "result",
    )  # fmt: skip
    rows = [
        (
            s.name,
            str(s.expected),
            str(s.detected),
            str(len(s.false_alarms)),
            _delays(s),
            *_kpi_cells(s),
            str(s.frames),
            f"{s.wall_s:.1f}",
            "ok" if s.ok else ("ERROR" if s.error else "FAIL"),
        )
        for s in scores
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for s in scores:
        if s.error:
            lines.append(f"{s.name}: error: {s.error}")
        for r in s.missed:
            lines.append(f"{s.name}: missed {r.expectation.describe()}")
        for f in s.false_alarms:
            lines.append(f"{s.name}: false alarm {f.describe()}")
        if s.kpis is not None:
            for p in s.kpis.chattering:
                lines.append(f"{s.name}: chattering {p.channel} {p.rule}: {p.chattering_episodes} episode(s)")
    return "\n".join(lines)


__all__ = ["format_table", "report", "report_json"]
