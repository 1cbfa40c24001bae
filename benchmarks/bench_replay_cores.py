"""Replay on one process against replay on N processes, the same file in the same run.

The case of ``bench_replay.py``: 100 one-minute pit channels (threshold, rate and quality rules on
every one), here over 30 days (4.32 M readings). Prints readings/s of each and their ratio, and
checks the two runs wrote the same alarm events (every field but the random ids, in order).

The N-process time includes starting the worker processes (the first run of a process also starts
its fork server).

Run: .venv/bin/python benchmarks/bench_replay_cores.py [--days 30] [--channels 100] [--workers N]
     [--repeat K] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from smartsite.bench.data import available_kinds, bench_site, write_csv
from smartsite.bench.figures import replay_rules
from smartsite.replay import parallel, replay
from smartsite.replay.parallel import default_workers


def _events(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        event.pop("id")
        event.pop("alarm_id")
        out.append(event)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, alternated; the best counts")
    parser.add_argument(
        "--parent-share",
        type=float,
        default=None,
        help="the parent's share of the channels (default: as shipped)",
    )
    parser.add_argument("--csv", type=Path, default=None, help="keep the input here (reused when it exists)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.parent_share is not None:
        parallel.PARENT_SHARE = args.parent_share
    ticks = int(args.days * 1440)
    config = bench_site(args.channels, replay_rules(available_kinds() & {"threshold", "rate", "quality"}))
    with tempfile.TemporaryDirectory(prefix="smartsite-bench-cores-") as tmp:
        folder = Path(tmp)
        path = args.csv or folder / "readings.csv"
        if args.csv is not None and args.csv.exists():
            rows = sum(1 for _ in args.csv.open("rb")) - 1
        else:
            rows = write_csv(path, args.channels, ticks, step_s=60.0)
        ones, manys = [], []
        for _ in range(max(1, args.repeat)):  # alternated, so a busy moment of the machine hits both
            ones.append(replay(config, path, folder / "one.jsonl", progress=False))
            manys.append(replay(config, path, folder / "many.jsonl", progress=False, workers=args.workers))
        one = min(ones, key=lambda s: s.seconds)
        many = min(manys, key=lambda s: s.seconds)
        same = _events(folder / "one.jsonl") == _events(folder / "many.jsonl")
    result = {
        "case": f"{args.channels} channels x {args.days:g} days at 1 minute",
        "rows": rows,
        "events": one.events,
        "one_process_readings_per_s": round(one.rows / one.seconds),
        "processes": many.workers,
        "parent_share": parallel.PARENT_SHARE,
        "n_processes_readings_per_s": round(many.rows / many.seconds),
        "ratio": round(one.seconds / many.seconds, 2),
        "same_alarms": same,
        "seconds_each_run": {
            "one_process": [round(s.seconds, 3) for s in ones],
            "n_processes": [round(s.seconds, 3) for s in manys],
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"replay, {result['case']}: {rows:,} readings, {one.events:,} alarm events")
        print(f"  1 process:   {result['one_process_readings_per_s']:>12,} readings/s ({one.seconds:.2f} s)")
        print(
            f"  {many.workers} processes: {result['n_processes_readings_per_s']:>12,} readings/s "
            f"({many.seconds:.2f} s), {result['ratio']}x; same alarms: {same}"
        )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
