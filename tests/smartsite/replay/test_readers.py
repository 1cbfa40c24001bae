"""Readers: both formats, both timestamp forms, and every kind of bad input counted, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analytics import ChannelIndex
from smartsite.replay import ReadingReader, ReplayInputError
from tests.smartsite.replay.conftest import write

INDEX = ChannelIndex(["pit.P1.disp_h", "anemo1.wind_speed"])
T = 1_704_067_200.0  # 2024-01-01T00:00:00Z


def read_all(
    path: Path, chunk_bytes: int = 1 << 20
) -> tuple[ReadingReader, np.ndarray, np.ndarray, np.ndarray]:
    reader = ReadingReader(path, INDEX, chunk_bytes=chunk_bytes)
    chunks = list(reader)
    ts = np.concatenate([c.ts for c in chunks]) if chunks else np.zeros(0)
    col = np.concatenate([c.column for c in chunks]) if chunks else np.zeros(0, dtype=np.int32)
    val = np.concatenate([c.value for c in chunks]) if chunks else np.zeros(0)
    return reader, ts, col, val


def test_csv_iso_with_offsets(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.csv",
        "ts,channel,value\n"
        "2024-01-01T08:00:00+08:00,pit.P1.disp_h,1.5\n"
        "2024-01-01T00:00:01Z,anemo1.wind_speed,2\n"
        "2024-01-01T00:00:02.250+00:00,pit.P1.disp_h,-3e1\n",
    )
    reader, ts, col, val = read_all(path)
    assert ts.tolist() == [T, T + 1, T + 2.25]
    assert col.tolist() == [0, 1, 0]
    assert val.tolist() == [1.5, 2.0, -30.0]
    assert reader.stats.rows == 3 and not reader.stats.rejected


def test_csv_epoch_seconds(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", f"ts,channel,value\n{T},pit.P1.disp_h,1\n{T + 0.5:.1f},pit.P1.disp_h,2\n")
    _reader, ts, _col, val = read_all(path)
    assert ts.tolist() == [T, T + 0.5]
    assert val.tolist() == [1.0, 2.0]


def test_mixed_timestamp_forms_in_one_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.csv",
        f"ts,channel,value\n{T:.0f},pit.P1.disp_h,1\n2024-01-01T00:00:05Z,pit.P1.disp_h,2\n",
    )
    reader, ts, _, _ = read_all(path)
    assert ts.tolist() == [T, T + 5]
    assert not reader.stats.rejected


@pytest.mark.parametrize("ts_form", ["epoch", "iso"])
def test_jsonl_both_ts_forms(tmp_path: Path, ts_form: str) -> None:
    stamps = [T, T + 60] if ts_form == "epoch" else ["2024-01-01T08:00:00+08:00", "2024-01-01T00:01:00Z"]
    lines = [
        json.dumps({"ts": stamps[0], "channel": "pit.P1.disp_h", "value": 3.5}),
        json.dumps({"ts": stamps[1], "channel": "anemo1.wind_speed", "value": 7, "extra": "ignored"}),
    ]
    path = write(tmp_path, "a.jsonl", "\n".join(lines) + "\n")
    reader, ts, col, val = read_all(path)
    assert reader.format == "jsonl"
    assert ts.tolist() == [T, T + 60]
    assert col.tolist() == [0, 1]
    assert val.tolist() == [3.5, 7.0]


def test_jsonl_bad_lines_counted(tmp_path: Path) -> None:
    lines = [
        json.dumps({"ts": T, "channel": "pit.P1.disp_h", "value": 1}),
        json.dumps({"ts": T + 1, "channel": "pit.P1.disp_h", "value": "high"}),
        json.dumps({"ts": "yesterday", "channel": "pit.P1.disp_h", "value": 1}),
        json.dumps({"ts": T + 3, "channel": "pit.P1.disp_h"}),
        json.dumps({"ts": T + 4, "channel": "nobody.x", "value": 1}),
        "[1, 2, 3]",
        '{"ts": 1704067205, "channel": "pit.P1.disp_h", "val',  # truncated last line
    ]
    path = write(tmp_path, "a.jsonl", "\n".join(lines))
    reader, ts, _, _ = read_all(path)
    assert ts.tolist() == [T]
    assert reader.stats.rows == 7
    assert reader.stats.rejected == {
        "non_numeric_value": 1,
        "bad_timestamp": 1,
        "missing_field": 1,
        "unknown_channel": 1,
        "malformed_row": 2,
    }
    assert reader.stats.unknown_channels == {"nobody.x": 1}


def test_wrong_header_names_file_and_expected(tmp_path: Path) -> None:
    path = write(tmp_path, "data.csv", "time,sensor,value\n1,pit.P1.disp_h,1\n")
    with pytest.raises(ReplayInputError) as err:
        read_all(path)
    assert "data.csv" in str(err.value) and "ts,channel,value" in str(err.value)


def test_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.csv", "")
    with pytest.raises(ReplayInputError, match=r"empty\.csv: empty file"):
        read_all(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReplayInputError, match="cannot read"):
        read_all(tmp_path / "nope.csv")


def test_header_only_is_no_readings(tmp_path: Path) -> None:
    reader, ts, _, _ = read_all(write(tmp_path, "a.csv", "ts,channel,value\n"))
    assert len(ts) == 0 and reader.stats.rows == 0


def test_truncated_last_line_counted(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", f"ts,channel,value\n{T},pit.P1.disp_h,1\n{T + 1},pit.P1.di")
    reader, ts, _, _ = read_all(path)
    assert ts.tolist() == [T]
    assert reader.stats.rejected == {"malformed_row": 1}


def test_bad_rows_counted_by_reason(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.csv",
        "ts,channel,value\n"
        f"{T},pit.P1.disp_h,1\n"
        f"{T + 1},pit.P1.disp_h,abc\n"
        f"{T + 2},pit.P1.disp_h,\n"
        "2024-01-01T00:00:03,pit.P1.disp_h,1\n"  # no offset: the site's time (UTC+8), as live
        "not-a-time,pit.P1.disp_h,1\n"
        f"{T + 5},ghost.x,1\n"
        f"{T + 6},pit.P1.disp_h,1,extra\n"
        f"{T + 7},pit.P1.disp_h,nan\n",
    )
    reader, ts, _, val = read_all(path)
    assert ts.tolist() == [T, T + 3 - 8 * 3600, T + 7]
    assert np.isnan(val[2])  # NaN is read; the analytics flag it, never alarm on it
    assert reader.stats.rejected == {
        "non_numeric_value": 2,
        "bad_timestamp": 1,
        "unknown_channel": 1,
        "malformed_row": 1,
    }
    assert reader.stats.rows == 8


def test_chunking_does_not_change_the_result(tmp_path: Path) -> None:
    rows = "".join(
        f"{T + i},{'pit.P1.disp_h' if i % 3 else 'anemo1.wind_speed'},{i * 0.5}\n" for i in range(500)
    )
    path = write(tmp_path, "a.csv", "ts,channel,value\n" + rows + f"{T + 600},pit.P1.disp_h,oops\n")
    _, ts_a, col_a, val_a = read_all(path, chunk_bytes=1 << 20)
    reader, ts_b, col_b, val_b = read_all(path, chunk_bytes=1024)
    assert (
        ts_a.tolist() == ts_b.tolist()
        and col_a.tolist() == col_b.tolist()
        and val_a.tolist() == val_b.tolist()
    )
    assert reader.stats.rejected == {"non_numeric_value": 1}
    assert len(ts_b) == 500
