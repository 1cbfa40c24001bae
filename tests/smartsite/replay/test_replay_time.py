"""Replay reads time as the live MQTT path does: ms epochs, naive ISO in the site's zone, implausible
stamps counted and reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analytics import ChannelIndex
from gateway.config import SiteConfig
from smartsite.replay import ReadingReader, replay
from tests.smartsite.replay.conftest import SITE, write

INDEX = ChannelIndex(["pit.P1.disp_h", "anemo1.wind_speed"])
T = 1_704_067_200.0  # 2024-01-01T00:00:00Z
PIT = "pit.P1.disp_h"


def read(
    path: Path, timezone: str = "Asia/Shanghai", chunk_bytes: int = 1 << 20
) -> tuple[ReadingReader, list[float]]:
    reader = ReadingReader(path, INDEX, chunk_bytes=chunk_bytes, timezone=timezone)
    chunks = list(reader)
    return reader, np.concatenate([c.ts for c in chunks]).tolist() if chunks else []


def test_csv_epoch_milliseconds_and_seconds_told_apart_by_magnitude(tmp_path: Path) -> None:
    path = write(
        tmp_path, "a.csv", f"ts,channel,value\n{int(T * 1000)},{PIT},1\n{int(T * 1000) + 1500},{PIT},2\n"
    )
    assert read(path)[1] == [T, T + 1.5]
    mixed = write(tmp_path, "b.csv", f"ts,channel,value\n{T:.0f},{PIT},1\n{int(T * 1000) + 2000},{PIT},2\n")
    assert read(mixed)[1] == [T, T + 2.0]


@pytest.mark.parametrize(("zone", "offset_h"), [("Asia/Shanghai", 8), ("Europe/Berlin", 1), ("UTC", 0)])
def test_csv_naive_iso_is_site_time(tmp_path: Path, zone: str, offset_h: int) -> None:
    path = write(
        tmp_path, "a.csv", f"ts,channel,value\n2024-01-01T00:00:00,{PIT},1\n2024-01-01 00:00:01.5,{PIT},2\n"
    )
    reader, ts = read(path, zone)
    assert ts == [T - offset_h * 3600, T + 1.5 - offset_h * 3600]
    assert reader.stats.rejected == {}


def test_jsonl_naive_strings_and_ms_numbers(tmp_path: Path) -> None:
    lines = [
        {"ts": "2024-01-01T08:00:00", "channel": PIT, "value": 1},
        {"ts": "2024-01-01T08:00:01", "channel": PIT, "value": 2},
    ]
    path = write(tmp_path, "a.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    assert read(path)[1] == [T, T + 1]
    ms = [{"ts": int(T * 1000) + 250 * i, "channel": PIT, "value": i} for i in range(3)]
    path = write(tmp_path, "b.jsonl", "".join(json.dumps(x) + "\n" for x in ms))
    assert read(path)[1] == [T, T + 0.25, T + 0.5]


def test_jsonl_mixed_time_forms_line_by_line(tmp_path: Path) -> None:
    lines = [
        {"ts": "2024-01-01T08:00:00", "channel": PIT, "value": 1},  # site time
        {"ts": "2024-01-01T00:00:01Z", "channel": PIT, "value": 2},
        {"ts": int(T * 1000) + 2000, "channel": PIT, "value": 3},
        {"ts": 253_402_300_800, "channel": PIT, "value": 4},  # the year 10000 in seconds
    ]
    path = write(tmp_path, "a.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    reader, ts = read(path)
    assert ts == [T, T + 1, T + 2]
    assert reader.stats.rejected == {"implausible_ts": 1}


IMPLAUSIBLE = [
    "253402300800",  # the year 10000 in seconds, not ms
    "0",
    "-1704067200",
    "946684799",  # 1999-12-31T23:59:59Z
    "100000000000",  # the year 5138 in seconds
]


def test_implausible_stamps_are_counted_and_reported(tmp_path: Path, config: SiteConfig) -> None:
    rows = [f"{T + i:.0f},{PIT},1" for i in range(3)] + [f"{raw},{PIT},35" for raw in IMPLAUSIBLE]
    path = write(tmp_path, "a.csv", "ts,channel,value\n" + "\n".join(rows) + "\n")
    for chunk_bytes in (64, 1 << 20):
        reader, ts = read(path, chunk_bytes=chunk_bytes)
        assert ts == [T, T + 1, T + 2]
        assert reader.stats.rejected == {"implausible_ts": len(IMPLAUSIBLE)}
    iso = write(
        tmp_path,
        "b.csv",
        f"ts,channel,value\n2024-01-01T00:00:00Z,{PIT},1\n1999-12-31T23:59:59Z,{PIT},35\n"
        f"9999-12-31T23:59:59,{PIT},35\n",
    )
    reader, ts = read(iso)
    assert ts == [T] and reader.stats.rejected == {"implausible_ts": 2}
    summary = replay(config, path, tmp_path / "out.jsonl", progress=False)
    assert summary.rejected["implausible_ts"] == len(IMPLAUSIBLE)
    assert summary.events == 0  # the 35 mm rows never reached the rules
    assert any("implausible_ts 5" in line for line in summary.lines())


def test_replay_reads_naive_times_in_the_configured_site_zone(tmp_path: Path) -> None:
    site = {**SITE, "site": {"id": "t", "timezone": "Europe/Berlin"}}
    config = SiteConfig.model_validate(site)
    path = write(
        tmp_path, "a.csv", f"ts,channel,value\n2024-01-01T01:00:00,{PIT},1\n2024-01-01T01:00:10,{PIT},22\n"
    )
    out = tmp_path / "out.jsonl"
    summary = replay(config, path, out, progress=False)
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["state"], e["ts"]) for e in events] == [("raised", "2024-01-01T00:00:10.000Z")]
    assert summary.first_ts == T


@pytest.mark.parametrize("chunk_bytes", [64, 1 << 20])
def test_a_clock_set_back_rewinds_in_replay_as_on_the_live_path(
    tmp_path: Path, config: SiteConfig, chunk_bytes: int
) -> None:
    from tests.smartsite.replay.test_replay import as_csv, comparable, live_events

    before = [(T + i, PIT, 1.0) for i in range(10)]
    # The clock set back an hour; the wall keeps moving out through the yellow (21) and orange (25.5).
    after = [(T - 3600 + 10 + i, PIT, 1.0 + 1.5 * i) for i in range(20)]
    rows = before + after
    path = write(tmp_path, "a.csv", as_csv(rows))
    out = tmp_path / "out.jsonl"
    summary = replay(config, path, out, chunk_bytes=chunk_bytes, progress=False)
    got = [comparable(json.loads(line)) for line in out.read_text().splitlines()]
    assert got == [comparable(e) for e in live_events(config, rows, batch=1)]
    assert [(e["state"], e["grade"]) for e in got] == [("raised", 1), ("escalated", 2)]
    assert (summary.rejected["out_of_order"], summary.rejected["rewound"]) == (2, 1)
    assert summary.readings == 28
