"""The benchmark's polars version of the replay rules finds the alarms smartsite finds."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from smartsite.bench.data import available_kinds, bench_site, write_csv
from smartsite.bench.figures import replay_rules
from smartsite.replay import replay

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_polars_finds_the_same_alarms(tmp_path: Path) -> None:
    cores = _module("bench_replay_cores")
    rules = replay_rules(available_kinds() & {"threshold", "rate", "quality"})
    path = tmp_path / "in.csv"
    write_csv(path, 20, 3 * 1440)  # 3 days: rate judged from the second day (half a window)
    replay(bench_site(20, rules), path, tmp_path / "core.jsonl", progress=False)
    core = [json.loads(line) for line in (tmp_path / "core.jsonl").read_text().splitlines()]
    events = cores.run_one("polars", path, tmp_path / "polars.jsonl", 20, 1)
    compared = cores.compare_polars(core, tmp_path / "polars.jsonl")
    per_rule = compared["per_rule"]
    # Every kind of alarm the case raises is there, and each is found alike.
    assert {"disp", "disp_rate", "disp_quality.spike"} <= set(per_rule)
    assert all(c["smartsite"] > 0 for c in per_rule.values())
    assert compared["same"], per_rule
    assert events["events"] == len(core)
