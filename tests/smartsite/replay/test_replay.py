"""Replay end to end: same events as the live pipeline, out-of-order and NaN handled, CLI, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gateway.config import SiteConfig
from gateway.pipeline import Pipeline
from gateway.site import Site
from gateway.vocab import ReadingBatch
from smartsite.cli import main
from smartsite.replay import FileOrder, replay
from tests.smartsite.replay.conftest import SITE, write

T = 1_704_067_200.0
PIT, WIND = "pit.P1.disp_h", "anemo1.wind_speed"


def readings() -> list[tuple[float, str, float]]:
    """A pit wall that creeps through every grade and back; a wind that gusts over the limits."""
    out: list[tuple[float, str, float]] = []
    for i in range(400):
        t = T + 60 * i
        out.append((t, PIT, round(float(35 * np.sin(np.pi * i / 200) - 2 + 0.3 * np.sin(i)), 3)))
        out.append((t + 1, WIND, round(float(6 + 7 * max(0.0, np.sin(np.pi * i / 50))), 3)))
    return out


def as_csv(rows: list[tuple[float, str, float]], iso: bool = False) -> str:
    def stamp(t: float) -> str:
        if not iso:
            return repr(t)
        from datetime import UTC, datetime

        return datetime.fromtimestamp(t, UTC).isoformat()

    return "ts,channel,value\n" + "".join(f"{stamp(t)},{c},{v!r}\n" for t, c, v in rows)


def comparable(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("id", "alarm_id")}


def live_events(config: SiteConfig, rows: list[tuple[float, str, float]], batch: int) -> list[dict[str, Any]]:
    site = Site(config)
    engine, book = site.analytics()
    pipeline = Pipeline(engine, book, sinks=[])
    events: list[dict[str, Any]] = []
    for start in range(0, len(rows), batch):
        part = rows[start : start + batch]
        events += [
            e.to_dict()
            for e in pipeline.process(
                ReadingBatch.from_lists(
                    [r[0] for r in part],
                    site.index.columns([r[1] for r in part]).tolist(),
                    [r[2] for r in part],
                    [0] * len(part),
                )
            )
        ]
    return events


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("fmt", ["csv-epoch", "csv-iso", "jsonl"])
def test_events_equal_the_live_pipeline(tmp_path: Path, config: SiteConfig, fmt: str) -> None:
    rows = readings()
    if fmt == "jsonl":
        text = "".join(json.dumps({"ts": t, "channel": c, "value": v}) + "\n" for t, c, v in rows)
        path = write(tmp_path, "in.jsonl", text)
    else:
        path = write(tmp_path, "in.csv", as_csv(rows, iso=fmt == "csv-iso"))
    out = tmp_path / "alarms.jsonl"
    summary = replay(config, path, out, chunk_bytes=2048, progress=False)
    got = read_events(out)
    want = live_events(config, rows, batch=7)
    assert len(got) >= 6, "the scenario must raise, escalate and clear alarms"
    assert {e["state"] for e in got} >= {"raised", "escalated", "deescalated", "cleared"}
    assert [comparable(e) for e in got] == [comparable(e) for e in want]
    assert summary.events == len(got) and summary.readings == len(rows)
    # Every event of one alarm shares its alarm id; the contract's fields are all there.
    for event in got:
        assert {
            "id",
            "site",
            "ts",
            "channel",
            "rule",
            "grade",
            "state",
            "value",
            "limit",
            "unit",
            "message",
        } <= set(event)


def test_nan_is_flagged_not_alarmed(tmp_path: Path, config: SiteConfig) -> None:
    rows = f"ts,channel,value\n{T},{PIT},1\n{T + 60},{PIT},nan\n{T + 120},{PIT},NaN\n{T + 180},{PIT},2\n"
    out = tmp_path / "a.jsonl"
    summary = replay(config, write(tmp_path, "a.csv", rows), out, progress=False)
    assert read_events(out) == []
    assert summary.rejected["non_finite"] == 2


def test_out_of_order_rejected_in_file_order_whatever_the_chunks(tmp_path: Path, config: SiteConfig) -> None:
    rows = [(T + 60 * i, PIT, 22.0 if i % 9 == 4 else 1.0) for i in range(60)]
    shuffled = [*rows[:10], rows[30], *rows[10:30], *rows[31:]]  # one reading far too early
    path = write(tmp_path, "a.csv", as_csv(shuffled))
    results = []
    for chunk_bytes in (64, 1 << 20):
        out = tmp_path / f"a{chunk_bytes}.jsonl"
        summary = replay(config, path, out, chunk_bytes=chunk_bytes, progress=False)
        rejected = (summary.rejected["out_of_order"], summary.rejected["rewound"])
        results.append(([comparable(e) for e in read_events(out)], rejected))
    assert results[0] == results[1]
    # Rows 10..29 come after row 30 in the file: 10 and 11 are rejected, at 12 the channel takes
    # them as its clock set back (rewound), as the live path would; row 31 is in order again.
    assert results[0][1] == (2, 1)


def test_file_order_keeps_equal_times_and_counts_stale() -> None:
    order = FileOrder(2)
    keep = order.keep(np.array([5.0, 3.0, 5.0, 4.0, 6.0]), np.array([0, 1, 0, 0, 1], dtype=np.int32))
    assert keep.tolist() == [True, True, True, False, True]
    assert order.keep(np.array([4.5, 6.0]), np.array([1, 0], dtype=np.int32)).tolist() == [False, True]


def test_unknown_channels_counted_in_summary(tmp_path: Path, config: SiteConfig) -> None:
    rows = f"ts,channel,value\n{T},{PIT},1\n{T + 1},crane9.load,1\n{T + 2},crane9.load,2\n"
    summary = replay(config, write(tmp_path, "a.csv", rows), tmp_path / "o.jsonl", progress=False)
    assert summary.rejected["unknown_channel"] == 2
    assert summary.unknown_channels == {"crane9.load": 2}
    assert any("crane9.load" in line for line in summary.lines())


def test_report_has_a_plot_per_alarmed_channel_and_an_index(tmp_path: Path, config: SiteConfig) -> None:
    path = write(tmp_path, "in.csv", as_csv(readings()))
    report = tmp_path / "report"
    summary = replay(config, path, tmp_path / "a.jsonl", report_dir=report, progress=False)
    channels = {a.channel for a in summary.alarms.values()}
    assert channels == {PIT, WIND}
    index = (report / "index.html").read_text(encoding="utf-8")
    for channel in channels:
        png = report / f"{channel}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{channel}.png"' in index


def _site_file(tmp_path: Path) -> Path:
    import yaml

    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(SITE), encoding="utf-8")
    return path


def cli_replay(tmp_path: Path, data: Path, output: Path, *more: str) -> int:
    """``smartsite replay`` of ``data`` into ``output`` on the test site, in-process: its exit code."""
    site = _site_file(tmp_path)
    return main(["replay", "--config", str(site), "--input", str(data), "--output", str(output), *more])


def test_cli_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write(tmp_path, "in.csv", as_csv(readings()) + f"{T + 99999},{PIT},x\n")
    out = tmp_path / "alarms.jsonl"
    code = cli_replay(tmp_path, data, out, "--report", str(tmp_path / "r"))
    assert code == 0
    assert read_events(out)
    err = capsys.readouterr().err
    assert "801 rows" in err and "non_numeric_value 1" in err and "rows/s" in err
    assert (tmp_path / "r" / "index.html").exists()


def test_cli_replay_bad_input_exits_1_with_a_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write(tmp_path, "in.csv", "when,what,how_much\n1,a,2\n")
    code = cli_replay(tmp_path, data, tmp_path / "o.jsonl")
    assert code == 1
    err = capsys.readouterr().err
    assert "in.csv" in err and "expected exactly 'ts,channel,value'" in err
