"""Replay on one process, on N processes, and the same rules in polars: the same file in the same run.

The case of ``bench_replay.py``: 100 one-minute pit channels (threshold, rate and quality rules on
every one), here over 30 days (4.32 M readings). Every run is a fresh Python process, as a
``smartsite replay`` invocation is (its imports are not timed; the N-process time includes starting
the workers), and the three are alternated ``--repeat`` times so that a busy moment of the machine
hits each. Prints each one's median readings/s, its spread, its CPU seconds and the ratio of its
median to the one-process median; checks that the N-process run wrote the same alarm events as one
process (every field but the random ids, in order) and that polars found the same alarms (time,
channel, rule, grade and state of every event; polars writes no messages).

The polars version is ``bench_replay_polars.py`` (needs the ``bench`` extra).

Run: .venv/bin/python benchmarks/bench_replay_cores.py [--days 30] [--channels 100] [--workers N]
     [--repeat K] [--csv PATH] [--no-polars] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from smartsite.bench.data import available_kinds, bench_site, channel_ids, write_csv
from smartsite.bench.figures import replay_rules
from smartsite.replay.parallel import default_workers

HERE = Path(__file__).resolve().parent
RULE_IDS = {"threshold": "disp", "rate": "disp_rate", "quality": "disp_quality"}


def _cpu(children: bool = True) -> float:
    """CPU seconds of this process, and of its ended children (the workers, once joined)."""
    usages = [resource.getrusage(resource.RUSAGE_SELF)]
    if children:
        usages.append(resource.getrusage(resource.RUSAGE_CHILDREN))
    return sum(u.ru_utime + u.ru_stime for u in usages)


def _rules() -> Any:
    return replay_rules(available_kinds() & {"threshold", "rate", "quality"})


def run_one(kind: str, path: Path, out: Path, channels: int, workers: int) -> dict[str, Any]:
    """One timed run in this process: ``smartsite`` (``workers`` processes) or ``polars``."""
    rules = _rules()
    if kind == "polars":
        sys.path.insert(0, str(HERE))
        from bench_replay_polars import run

        cpu, started = _cpu(), time.perf_counter()
        events = run(path, channel_ids(channels), rules, RULE_IDS)
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
        out.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
        return {"seconds": seconds, "cpu_s": cpu, "events": len(events), "processes": None}
    from smartsite.replay import replay

    config = bench_site(channels, rules)
    cpu, own = _cpu(), _cpu(children=False)
    summary = replay(config, path, out, progress=False, workers=workers)
    return {
        "seconds": summary.seconds,
        "cpu_s": _cpu() - cpu,
        "cpu_parent_s": _cpu(children=False) - own,
        "events": summary.events,
        "processes": summary.workers,
    }


def _spawn(kind: str, path: Path, out: Path, channels: int, workers: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--run-one", kind, "--csv", str(path), "--out", str(out)]
    command += ["--channels", str(channels), "--workers", str(workers)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} run failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _events(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        event.pop("id")
        event.pop("alarm_id")
        out.append(event)
    return out


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _alarm_keys(events: list[dict[str, Any]]) -> list[tuple[float, str, str, int, str]]:
    return [
        (
            datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).timestamp(),
            e["channel"],
            e["rule"],
            e["grade"],
            e["state"],
        )
        for e in events
    ]


def compare_polars(core: list[dict[str, Any]], polars_path: Path) -> dict[str, Any]:
    """Per rule: events of each and how many are the same (time, channel, rule, grade, state)."""
    theirs = [tuple(e) for e in (json.loads(line) for line in polars_path.read_text().splitlines())]
    ours = _alarm_keys(core)
    rules = sorted({e[2] for e in ours} | {str(e[2]) for e in theirs})
    per_rule = {}
    for rule in rules:
        a = Counter(e for e in ours if e[2] == rule)
        b = Counter(e for e in theirs if e[2] == rule)
        per_rule[rule] = {"smartsite": a.total(), "polars": b.total(), "same": (a & b).total()}
    return {"same": Counter(ours) == Counter(theirs), "per_rule": per_rule}


def _stats(runs: list[dict[str, Any]], rows: int, base: float | None) -> dict[str, Any]:
    seconds = [r["seconds"] for r in runs]
    rates = sorted(rows / s for s in seconds)
    median = statistics.median(rates)
    return {
        "readings_per_s_median": round(median),
        "readings_per_s_min": round(rates[0]),
        "readings_per_s_max": round(rates[-1]),
        "seconds": [round(s, 3) for s in seconds],
        "cpu_s": [round(r["cpu_s"], 2) for r in runs],
        "cpu_parent_s": [round(r["cpu_parent_s"], 2) for r in runs if "cpu_parent_s" in r],
        "ratio_to_one_process": round(median / base, 2) if base else 1.0,
        "processes": runs[0]["processes"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, alternated; medians count")
    parser.add_argument("--csv", type=Path, default=None, help="keep the input here (reused when it exists)")
    parser.add_argument("--no-polars", action="store_true", help="skip the polars version")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--run-one", choices=["smartsite", "polars"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_one:
        print(json.dumps(run_one(args.run_one, args.csv, args.out, args.channels, args.workers)))
        return 0
    ticks = int(args.days * 1440)
    with tempfile.TemporaryDirectory(prefix="smartsite-bench-cores-") as tmp:
        folder = Path(tmp)
        path = args.csv or folder / "readings.csv"
        if args.csv is not None and args.csv.exists():
            rows = sum(1 for _ in args.csv.open("rb")) - 1
        else:
            rows = write_csv(path, args.channels, ticks, step_s=60.0)
        load_before = os.getloadavg()
        kinds = [("one", "smartsite", 1), ("many", "smartsite", args.workers)]
        if not args.no_polars:
            kinds.append(("polars", "polars", 1))
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in kinds}
        for _ in range(max(1, args.repeat)):
            for name, kind, workers in kinds:
                runs[name].append(_spawn(kind, path, folder / f"{name}.jsonl", args.channels, workers))
        load_after = os.getloadavg()
        one_events = _events(folder / "one.jsonl")
        same = one_events == _events(folder / "many.jsonl")
        polars = None if args.no_polars else compare_polars(one_events, folder / "polars.jsonl")
    one = _stats(runs["one"], rows, None)
    base = one["readings_per_s_median"]
    result: dict[str, Any] = {
        "case": f"{args.channels} channels x {args.days:g} days at 1 minute",
        "rows": rows,
        "events": len(one_events),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "one_process": one,
        "n_processes": _stats(runs["many"], rows, base),
        "same_alarms_n_processes": same,
    }
    if polars is not None:
        result["polars"] = _stats(runs["polars"], rows, base)
        result["polars_alarms"] = polars
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"replay, {result['case']}: {rows:,} readings, {len(one_events):,} alarm events")
        print(
            f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
            + f"median of {args.repeat} runs"
        )
        labels = {"one_process": "smartsite, 1 process", "n_processes": f"smartsite, {args.workers} workers"}
        if polars is not None:
            labels["polars"] = "polars"
        for key, label in labels.items():
            s = result[key]
            print(
                f"  {label:24} {s['readings_per_s_median']:>10,}/s  (min {s['readings_per_s_min']:,}, "
                f"max {s['readings_per_s_max']:,}; cpu {'/'.join(map(str, s['cpu_s']))} s)  "
                f"{s['ratio_to_one_process']}x"
            )
        print(f"  same alarms, {args.workers} workers as 1 process: {same}")
        if polars is not None:
            print(f"  same alarms, polars as smartsite: {polars['same']}")
            for rule, c in polars["per_rule"].items():
                print(
                    f"    {rule:22} smartsite {c['smartsite']:>6}  polars {c['polars']:>6}  "
                    + f"same {c['same']:>6}"
                )
    ok = same and (polars is None or polars["same"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
