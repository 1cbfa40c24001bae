"""The benchmark's figures, each measured for the core and for the plain baseline in the same run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smartsite.bench.baseline import BaselineSite, read_csv_rows
from smartsite.bench.data import T0, BenchRules, bench_site, channel_ids, series, write_csv


@dataclass(slots=True)
class Figure:
    name: str
    value: float
    unit: str
    baseline: float
    ratio: float  # how many times faster (or smaller) the core is than the baseline
    target: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Sizes:
    stream_channels: int = 10_000
    stream_warm_s: int = 600
    stream_ticks: int = 300
    stream_baseline_channels: int = 1_000
    stream_baseline_ticks: int = 30
    replay_channels: int = 100
    replay_ticks: int = 525_600  # a year at one minute
    replay_baseline_rows: int = 300_000
    memory_channels: int = 10_000
    memory_window_s: int = 600
    push_alarms: int = 1_000  # at 100 alarms/s: 10 s

    @staticmethod
    def quick() -> Sizes:
        return Sizes(
            stream_channels=2_000,
            stream_warm_s=120,
            stream_ticks=40,
            stream_baseline_channels=200,
            stream_baseline_ticks=10,
            replay_channels=100,
            replay_ticks=5_000,
            replay_baseline_rows=20_000,
            memory_channels=1_000,
            memory_window_s=120,
            push_alarms=200,
        )


def stream_rules(kinds: set[str]) -> BenchRules:
    """1 Hz sensors, 10-minute rate window, rate per minute."""
    return BenchRules(rate="rate" in kinds, quality="quality" in kinds, rate_window_s=600.0, rate_per_s=60.0)


def replay_rules(kinds: set[str]) -> BenchRules:
    """One-minute pit sensors over a year, judged as pits are (GB 50497): rate in mm/d over a day."""
    return BenchRules(
        rate="rate" in kinds,
        quality="quality" in kinds,
        rate_window_s=86400.0,
        rate_per_s=86400.0,
        rate_upper=(2.0, 3.0, 4.0),
        silent_s=600.0,
        stuck_window_s=6 * 3600.0,
    )


BASELINE_RULES = (
    "plain Python per channel and reading: thresholds with hysteresis; spike screen (Hampel over the "
    "last spike_window readings, spikes fed to no other rule); robust rate (Hampel on the raw window "
    "values, least squares on the inliers, min_samples and coverage); silent, stuck, out of range"
)


def _p99_ms(seconds: list[float]) -> float:
    return float(np.percentile(np.asarray(seconds), 99) * 1000.0) if seconds else math.nan


def _ratio(slow: float, fast: float) -> float:
    return round(slow / fast, 2) if fast > 0 and math.isfinite(slow) and math.isfinite(fast) else math.nan


# Streaming


def core_stream_ticks(n: int, warm_s: int, ticks: int, rules: BenchRules) -> list[float]:
    site = _site(n, rules)
    engine, book = site.analytics()
    columns = np.arange(n, dtype=np.int32)
    # Warm up the windows (fed in large batches, as replay would), then time tick by tick.
    for start in range(0, warm_s, 60):
        tick = np.arange(start, min(warm_s, start + 60), dtype=np.int64)
        values = series(tick, n, 1.0)
        ts = np.repeat(T0 + tick.astype(np.float64), n)
        book.apply(
            engine.process(
                ts, np.tile(columns, len(tick)), values.reshape(-1), np.zeros(ts.size, np.uint8)
            ).transitions
        )
    quality = np.zeros(n, dtype=np.uint8)
    times: list[float] = []
    for k in range(warm_s, warm_s + ticks):
        values = series(np.array([k], dtype=np.int64), n, 1.0)[0]
        ts = np.full(n, T0 + k)
        started = time.perf_counter()
        result = engine.process(ts, columns, values, quality)
        book.apply(result.transitions)
        book.apply(engine.tick(T0 + k))
        times.append(time.perf_counter() - started)
    return times


def baseline_stream_ticks(n: int, warm_s: int, ticks: int, rules: BenchRules) -> list[float]:
    ids = channel_ids(n)
    base = BaselineSite(ids, rules)
    for start in range(0, warm_s, 60):
        tick = np.arange(start, min(warm_s, start + 60), dtype=np.int64)
        values = series(tick, n, 1.0).tolist()
        for row, k in enumerate(tick.tolist()):
            base.process(list(zip([T0 + k] * n, ids, values[row], strict=True)))
    times: list[float] = []
    for k in range(warm_s, warm_s + ticks):
        values = series(np.array([k], dtype=np.int64), n, 1.0)[0].tolist()
        readings = list(zip([T0 + k] * n, ids, values, strict=True))
        started = time.perf_counter()
        base.process(readings)
        base.tick(T0 + k)
        times.append(time.perf_counter() - started)
    return times


def streaming(sizes: Sizes, kinds: set[str]) -> Figure:
    rules = stream_rules(kinds)
    core = core_stream_ticks(sizes.stream_channels, sizes.stream_warm_s, sizes.stream_ticks, rules)
    nb = min(sizes.stream_baseline_channels, sizes.stream_channels)
    base = baseline_stream_ticks(nb, sizes.stream_warm_s, sizes.stream_baseline_ticks, rules)
    # The baseline is one object per channel: its tick time grows linearly with the channels.
    scale = sizes.stream_channels / nb
    core_p99 = _p99_ms(core)
    base_p99 = _p99_ms(base) * scale
    return Figure(
        name=f"streaming_tick_p99_{sizes.stream_channels}ch",
        value=round(core_p99, 3),
        unit="ms",
        baseline=round(base_p99, 3),
        ratio=_ratio(base_p99, core_p99),
        target="<= 20 ms, >= 30x baseline (10,000 channels)",
        detail={
            "channels": sizes.stream_channels,
            "ticks": len(core),
            "median_ms": round(float(np.median(core)) * 1000, 3),
            "baseline_channels_timed": nb,
            "baseline_ticks": len(base),
            "baseline_scaling": (
                f"baseline timed on {nb} of {sizes.stream_channels} channels; its p99 is scaled by "
                f"{scale:g} (one object per channel: tick time linear in channels)"
            ),
            "baseline_rules": BASELINE_RULES,
        },
    )


# Replay


def replay_figure(sizes: Sizes, kinds: set[str], keep_dir: Path | None = None) -> Figure:
    from smartsite.replay import replay

    rules = replay_rules(kinds)
    config = _config(sizes.replay_channels, rules)
    with tempfile.TemporaryDirectory(prefix="smartsite-bench-") as tmp:
        folder = keep_dir or Path(tmp)
        path = folder / f"replay_{sizes.replay_channels}ch_{sizes.replay_ticks}t.csv"
        rows = write_csv(path, sizes.replay_channels, sizes.replay_ticks, step_s=60.0)
        csv_bytes = path.stat().st_size
        summary = replay(config, path, folder / "alarms.jsonl", progress=False)
        core_rate = summary.rows / summary.seconds
        ids = channel_ids(sizes.replay_channels)
        base = BaselineSite(ids, rules)
        limit = min(rows, sizes.replay_baseline_rows)
        started = time.perf_counter()
        base.process(read_csv_rows(path, limit=limit))
        base_rate = limit / (time.perf_counter() - started)
    return Figure(
        name=f"replay_readings_per_s_{sizes.replay_channels}ch_{sizes.replay_ticks}ticks",
        value=round(core_rate),
        unit="readings/s",
        baseline=round(base_rate),
        ratio=_ratio(core_rate, base_rate),
        target=">= 1,000,000 readings/s, >= 20x baseline (100 channels x 1 year at 1 minute)",
        detail={
            "rows": rows,
            "seconds": round(summary.seconds, 3),
            "events": summary.events,
            "csv_bytes": csv_bytes,
            "baseline_rows_timed": limit,
            "baseline_scaling": (
                f"baseline timed on the first {limit} of {rows} rows (same CSV, same rules); "
                "readings/s compared as is"
            ),
            "baseline_rules": BASELINE_RULES,
        },
    )


# Memory (each side in its own process, so one's arrays do not count against the other)


def memory(sizes: Sizes, kinds: set[str]) -> Figure:
    core = _measure_in_subprocess("core", sizes.memory_channels, sizes.memory_window_s, kinds)
    base = _measure_in_subprocess("baseline", sizes.memory_channels, sizes.memory_window_s, kinds)
    return Figure(
        name=f"memory_rss_{sizes.memory_channels}ch_{sizes.memory_window_s}s_window_1hz",
        value=round(core["peak_mb"], 1),
        unit="MB",
        baseline=round(base["peak_mb"], 1),
        ratio=_ratio(base["peak_mb"], core["peak_mb"]),
        target="<= 300 MB (10,000 channels, 10-minute windows at 1 Hz)",
        detail={
            "measure": "peak RSS (VmHWM) of a fresh process after filling the windows",
            "core_rss_mb": core["rss_mb"],
            "baseline_rss_mb": base["rss_mb"],
            "after_imports_mb": core["imports_mb"],
        },
    )


def _measure_in_subprocess(side: str, n: int, window_s: int, kinds: set[str]) -> dict[str, float]:
    command = [
        sys.executable,
        "-m",
        "smartsite.bench.memory",
        side,
        str(n),
        str(window_s),
        ",".join(sorted(kinds)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory measurement ({side}) failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _config(n: int, rules: BenchRules) -> Any:
    return bench_site(n, rules)


def _site(n: int, rules: BenchRules) -> Any:
    from gateway.site import Site

    return Site(bench_site(n, rules))


def pushes(sizes: Sizes, kinds: set[str]) -> Figure:
    """Raised event to the first push accepted by a local webhook, at 100 alarms/s."""
    from smartsite.bench.push_latency import push_latency

    rate, window = 100.0, 0.1
    got = push_latency(sizes.push_alarms, rate=rate, group_window_s=window)
    core, base = got["core_p99_ms"], got["baseline_p99_ms"]
    return Figure(
        name="alarm_push_latency_p99",
        value=round(core, 1),
        unit="ms",
        baseline=round(base, 1),
        ratio=_ratio(base, core),
        target="< 200 ms at 100 alarms/s (raised event to the first push accepted by a local webhook)",
        detail={
            "alarms": sizes.push_alarms,
            "rate_per_s": rate,
            "group_window_s": window,
            "core_arrived": got["core_arrived"],
            "baseline": "one POST per event at once, nothing stored (no desk, no outbox, no grouping)",
            "baseline_arrived": got["baseline_arrived"],
        },
    )
