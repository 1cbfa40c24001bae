"""The benchmark's site (built in code) and its synthetic readings (CSV written in chunks)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv

from gateway.config import SiteConfig

T0 = 1_704_067_200.0  # 2024-01-01T00:00:00Z
QUANTITY = "disp"

# Value limits (mm): GB 50497-style wall displacement at 70/85/100 % of a 30 mm control value.
UPPER = (21.0, 25.5, 30.0)
LOWER_RED = -30.0
HYSTERESIS = 0.5
RANGE = (-200.0, 200.0)  # the sensors' physical range (mm)
# Rare spikes in the synthetic data (about one reading in 20,000): large enough to cross the value
# limits if they were not screened out.
SPIKE_EVERY = 20_011
SPIKE_MM = 12.0


@dataclass(frozen=True, slots=True)
class BenchRules:
    """The rule parameters the core and the baseline both apply.

    ``bench_site`` writes every one of them into the site config the core runs; the baseline reads
    them from here. ``rate_min_coverage`` is not a config field: it is the core's fixed share of the
    window the inliers must span (``analytics.trend.RateTable``'s ``min_coverage``).
    """

    upper: tuple[float, float, float] = UPPER
    lower_red: float = LOWER_RED
    hysteresis: float = HYSTERESIS
    range_low: float = RANGE[0]
    range_high: float = RANGE[1]
    rate: bool = True
    rate_window_s: float = 600.0
    rate_per_s: float = 60.0  # per minute
    rate_upper: tuple[float, float, float] = (1.0, 2.0, 4.0)
    rate_min_samples: int = 5
    rate_hampel_k: float = 3.0
    rate_min_coverage: float = 0.5
    quality: bool = True
    silent_s: float = 300.0
    stuck_window_s: float = 1800.0
    stuck_min_samples: int = 10
    spike_k: float = 6.0
    spike_window: int = 15
    spike_min_jump: float = 0.0
    min_hold_s: float = 60.0  # every rule's minimum dwell (analytics.hold)


def available_kinds() -> set[str]:
    """Rule kinds the site glue can build now (thresholds always)."""
    from gateway.rules.rulebook import KINDS

    return set(KINDS)


def channel_ids(n: int) -> list[str]:
    return [f"p{i:05d}.{QUANTITY}" for i in range(n)]


def bench_site(n_channels: int, rules: BenchRules) -> SiteConfig:
    """One MQTT device per channel, one rule of each kind over all of them."""
    devices = [
        {
            "id": f"p{i:05d}",
            "type": "mqtt",
            "channels": {QUANTITY: {"unit": "mm", "range": [rules.range_low, rules.range_high]}},
        }
        for i in range(n_channels)
    ]
    pattern = f"*.{QUANTITY}"
    yellow, orange, red = rules.upper
    rule_list: list[dict[str, Any]] = [
        {
            "id": "disp",
            "type": "threshold",
            "channels": [pattern],
            "upper": {"yellow": yellow, "orange": orange, "red": red},
            "lower": {"red": rules.lower_red},
            "hysteresis": rules.hysteresis,
            "min_hold_s": rules.min_hold_s,
        }
    ]
    if rules.rate:
        ry, ro, rr = rules.rate_upper
        per = {1.0: "second", 60.0: "minute", 3600.0: "hour", 86400.0: "day"}[rules.rate_per_s]
        rule_list.append(
            {
                "id": "disp_rate",
                "type": "rate",
                "channels": [pattern],
                "window_s": rules.rate_window_s,
                "per": per,
                "upper": {"yellow": ry, "orange": ro, "red": rr},
                "min_samples": rules.rate_min_samples,
                "hampel_k": rules.rate_hampel_k,
                "min_hold_s": rules.min_hold_s,
            }
        )
    if rules.quality:
        rule_list.append(
            {
                "id": "disp_quality",
                "type": "quality",
                "channels": [pattern],
                "silent_s": rules.silent_s,
                "stuck_window_s": rules.stuck_window_s,
                "stuck_min_samples": rules.stuck_min_samples,
                "out_of_range": True,
                "spike_k": rules.spike_k,
                "spike_window": rules.spike_window,
                "spike_min_jump": rules.spike_min_jump,
                "min_hold_s": rules.min_hold_s,
            }
        )
    return SiteConfig.model_validate({"site": {"id": "bench"}, "devices": devices, "rules": rule_list})


def series(ticks: npt.NDArray[np.int64], n_channels: int, step_s: float) -> npt.NDArray[np.float64]:
    """(len(ticks), n_channels) values: slow waves that cross the limits now and then, plus noise,
    plus a rare spike (``SPIKE_MM`` up, about one reading in ``SPIKE_EVERY``) for the spike screen.

    Deterministic in (tick, channel), so any slice of the ticks gives the same values.
    """
    ch = np.arange(n_channels)
    period = 3 * 86400.0 + 3600.0 * (ch % 17)  # a few days
    phase = 2 * np.pi * ((ch * 0.618034) % 1.0)
    t = ticks[:, None].astype(np.float64) * step_s
    # Peaks between 19 and 23 mm: some channels reach the yellow limit every few days, others never.
    amplitude = 8.0 + 4.0 * ((ch * 0.381966) % 1.0)
    wave = 11.0 + amplitude * np.sin(2 * np.pi * t / period + phase)
    # Cheap deterministic noise: a hash of (tick, channel) mapped to [-0.15, 0.15), within hysteresis.
    h = (
        ticks[:, None].astype(np.uint64) * np.uint64(2654435761) + ch.astype(np.uint64) * np.uint64(40503)
    ) % np.uint64(10007)
    noise = 0.3 * (h.astype(np.float64) / 10007.0 - 0.5)
    g = (
        ticks[:, None].astype(np.uint64) * np.uint64(40503) + ch.astype(np.uint64) * np.uint64(2654435761)
    ) % np.uint64(SPIKE_EVERY)
    spike = np.where(g == 0, SPIKE_MM, 0.0)
    return np.round(wave + noise + spike, 3)


def tick_blocks(n_ticks: int, rows_per_block: int, n_channels: int) -> Iterator[npt.NDArray[np.int64]]:
    per = max(1, rows_per_block // max(n_channels, 1))
    for start in range(0, n_ticks, per):
        yield np.arange(start, min(n_ticks, start + per), dtype=np.int64)


def write_csv(path: Path, n_channels: int, n_ticks: int, step_s: float = 60.0, t0: float = T0) -> int:
    """One reading per channel per tick, time-major, ISO 8601 ``Z`` timestamps; returns rows written."""
    names = pa.array(channel_ids(n_channels))
    rows = 0
    with path.open("wb") as fh:
        fh.write(b"ts,channel,value\n")
        options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
        for ticks in tick_blocks(n_ticks, 2_000_000, n_channels):
            seconds = (t0 + ticks * step_s).astype("datetime64[s]")
            stamps = pa.array(np.datetime_as_string(seconds, unit="s", timezone="UTC"))
            n = len(ticks) * n_channels
            ts_idx = np.repeat(np.arange(len(ticks), dtype=np.int32), n_channels)
            ch_idx = np.tile(np.arange(n_channels, dtype=np.int32), len(ticks))
            table = pa.table(
                {
                    "ts": pa.DictionaryArray.from_arrays(pa.array(ts_idx), stamps),
                    "channel": pa.DictionaryArray.from_arrays(pa.array(ch_idx), names),
                    "value": series(ticks, n_channels, step_s).reshape(-1),
                }
            )
            pa_csv.write_csv(table, fh, options)
            rows += n
    return rows
