"""The benchmark runs in quick mode and reports every figure; no timing is asserted."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gateway.bench.baseline import BaselineSite
from gateway.bench.data import BenchRules, channel_ids
from gateway.cli import main

FIELDS = {"name", "value", "unit", "baseline", "ratio"}


def test_bench_quick_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    results = report["results"]
    assert [r["name"].split("_")[0] for r in results] == ["streaming", "replay", "memory"]
    for row in results:
        assert set(row) >= FIELDS
        assert isinstance(row["name"], str) and isinstance(row["unit"], str)
        for key in ("value", "baseline", "ratio"):
            assert isinstance(row[key], int | float) and math.isfinite(row[key]) and row[key] > 0
    assert "threshold" in report["rules"]


def test_bench_only_one_figure_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--only", "streaming"]) == 0
    out = capsys.readouterr().out
    assert "streaming_tick_p99" in out and "replay" not in out


def test_bench_unknown_figure_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--only", "nope"]) == 1
    assert "unknown figure" in capsys.readouterr().err


def test_baseline_thresholds_with_hysteresis_and_rate() -> None:
    rules = BenchRules(
        rate=True, quality=True, rate_window_s=600.0, rate_per_s=60.0, rate_upper=(1.0, 2.0, 4.0)
    )
    base = BaselineSite(channel_ids(1), rules)
    cid = channel_ids(1)[0]
    values = [20.0, 21.0, 26.0, 25.2, 24.9, 20.4, 20.6]
    out = base.process([(60.0 * i, cid, v) for i, v in enumerate(values)])
    grades = [(t[2], t[4]) for t in out if t[2] == "disp"]
    assert grades == [("disp", 1), ("disp", 2), ("disp", 1), ("disp", 0)]
    # A steady rise of 3 per minute: rate orange once the window holds enough samples.
    out = base.process([(600.0 + 60.0 * i, cid, -100 + 3.0 * i) for i in range(10)])
    assert ("disp_rate", 2) in [(t[2], t[4]) for t in out]
    # Silence is noticed by the tick.
    assert [t[2] for t in base.tick(600.0 + 60.0 * 9 + rules.silent_s + 1)] == ["silent"]
    assert np.isfinite(out[0][0])
