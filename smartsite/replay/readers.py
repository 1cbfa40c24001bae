"""Recorded readings from CSV (``ts,channel,value``) or JSON lines, as numpy arrays, in chunks.

The file is memory-mapped and cut into chunks of about ``chunk_bytes`` at line ends; pyarrow parses
each chunk on all cores. Channel names come dictionary-encoded, so they are mapped to the site's
columns once per distinct name, never per row. A chunk that the fast, typed parse refuses (a
non-numeric value, a bad timestamp, mixed timestamp forms) is parsed again leniently: every bad row
is counted under its reason and dropped, the good rows go on. Memory stays bounded by the chunk size.

Times follow the live MQTT path's rules (``drivers.device_time``): epoch numbers in s, ms, µs or ns,
told apart by magnitude; ISO 8601 without an offset is the site's time zone; a time outside the
years 2000..2100 is counted as ``implausible_ts`` and dropped.
"""

from __future__ import annotations

import json
import math
import mmap
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json

from analytics import ChannelIndex
from drivers.device_time import IMPLAUSIBLE_TS, epoch_seconds_array
from gateway.vocab import GatewayError

HEADER = "ts,channel,value"
COLUMNS = ["ts", "channel", "value"]
# 8 MB (about 200,000 readings): calls big enough for the core, and fine enough a pipeline for the
# replay on several processes (the workers start on the first chunk sooner, and finish together).
CHUNK_BYTES = 8 << 20
_TS_ISO = pa.timestamp("us", tz="UTC")
_TS_NAIVE = pa.timestamp("us")  # ISO 8601 without an offset: the site's time
_DICT = pa.dictionary(pa.int32(), pa.string())
_JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}

# Reasons a row is dropped by the reader (the engine counts its own, e.g. out of range).
MALFORMED_ROW = "malformed_row"  # wrong number of fields, a line cut short, not a JSON object
BAD_TIMESTAMP = "bad_timestamp"  # neither an epoch number nor ISO 8601
NON_NUMERIC_VALUE = "non_numeric_value"
MISSING_FIELD = "missing_field"  # JSON line without ts, channel or value
UNKNOWN_CHANNEL = "unknown_channel"


class ReplayInputError(GatewayError):
    """The input file cannot be replayed at all (missing, empty, wrong header)."""


@dataclass(slots=True)
class Chunk:
    """Readings of one chunk of the file, in file order; ``column`` is the site column (>= 0)."""

    ts: npt.NDArray[np.float64]
    column: npt.NDArray[np.int32]
    value: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(slots=True)
class ReadStats:
    rows: int = 0  # data rows seen (good or bad)
    readings: int = 0  # rows handed on
    rejected: Counter[str] = field(default_factory=Counter)
    unknown_channels: Counter[str] = field(default_factory=Counter)
    bytes_total: int = 0
    bytes_done: int = 0


def detect_format(path: Path) -> str:
    """``csv`` or ``jsonl``: by suffix, else by the first non-blank byte (``{`` is JSON)."""
    if path.suffix.lower() in _JSON_SUFFIXES:
        return "jsonl"
    if path.suffix.lower() == ".csv":
        return "csv"
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "jsonl" if head.startswith(b"{") else "csv"


class ReadingReader:
    """Iterate over a file's readings in chunks; ``stats`` counts rows, rejections, progress.

    ``keep`` (optional, a boolean per site column) drops every other channel silently: the report's
    second pass reads only the alarmed channels.
    """

    def __init__(
        self,
        path: Path,
        index: ChannelIndex,
        chunk_bytes: int = CHUNK_BYTES,
        keep: npt.NDArray[np.bool_] | None = None,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        self.path = Path(path)
        self.timezone = timezone  # of ISO times without an offset (the site's)
        self._tz: tzinfo = ZoneInfo(timezone)
        self.index = index
        self.chunk_bytes = max(1024, int(chunk_bytes))
        self.keep = keep
        self.stats = ReadStats()
        self.format = ""
        self._unknown_codes: dict[str, int] = {}
        try:
            self.stats.bytes_total = self.path.stat().st_size
        except OSError as exc:
            raise ReplayInputError(f"{self.path}: cannot read the input: {exc.strerror or exc}") from exc
        if not self.path.is_file():
            raise ReplayInputError(f"{self.path}: not a regular file")
        if self.stats.bytes_total == 0:
            raise ReplayInputError(
                f"{self.path}: empty file; expected a CSV header '{HEADER}' or JSON lines "
                '{"ts": ..., "channel": ..., "value": ...}'
            )
        self.format = detect_format(self.path)

    def __iter__(self) -> Iterator[Chunk]:
        with self.path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            if self.format == "csv":
                yield from self._csv(mm)
            else:
                yield from self._jsonl(mm)

    # Chunking

    def _pieces(self, mm: mmap.mmap, start: int) -> Iterator[bytes]:
        """Chunks of whole lines (the last one may lack its newline). One copy each: pyarrow may
        keep a chunk's buffer alive, which a view into the map would forbid closing."""
        size = len(mm)
        pos = start
        while pos < size:
            end = min(size, pos + self.chunk_bytes)
            if end < size:
                cut = mm.rfind(b"\n", pos, end)
                end = cut + 1 if cut >= 0 else self._next_newline(mm, end)
            piece = mm[pos:end]
            pos = end
            self.stats.bytes_done = end
            yield piece

    @staticmethod
    def _next_newline(mm: mmap.mmap, pos: int) -> int:
        cut = mm.find(b"\n", pos)
        return len(mm) if cut < 0 else cut + 1

    # CSV

    def _csv(self, mm: mmap.mmap) -> Iterator[Chunk]:
        first_end = self._next_newline(mm, 0)
        header = bytes(mm[:first_end]).decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r\n")
        if header.replace(" ", "") != HEADER:
            raise ReplayInputError(
                f"{self.path}: CSV header is {header[:80]!r}; expected exactly '{HEADER}' "
                "(ts as ISO 8601, without an offset in the site's time zone, or an epoch number in "
                "s or ms)"
            )
        ts_type = self._csv_ts_type(mm, first_end)
        for piece in self._pieces(mm, first_end):
            if not piece or piece.isspace():  # blank (as strip() would find, without a copy)
                continue
            chunk = self._csv_piece(piece, ts_type)
            if chunk is not None and len(chunk):
                yield chunk

    def _csv_ts_type(self, mm: mmap.mmap, start: int) -> pa.DataType:
        """Epoch seconds or ISO 8601, from the first data row (a mixed file takes the lenient path)."""
        end = self._next_newline(mm, start)
        first = bytes(mm[start:end]).decode("utf-8", "replace").split(",", 1)[0].strip().strip('"')
        try:
            float(first)
        except ValueError:
            try:
                naive = datetime.fromisoformat(first).tzinfo is None
            except ValueError:
                naive = False
            return _TS_NAIVE if naive else _TS_ISO
        return pa.float64()

    def _csv_piece(self, piece: bytes, ts_type: pa.DataType) -> Chunk | None:
        malformed = 0
        try:
            if not piece.isascii():  # ASCII is UTF-8; only other bytes need decoding to check
                piece.decode("utf-8")
        except UnicodeDecodeError:
            # Arrow cannot show such a row to the handler below and gives up on the whole piece
            # (found by fuzzing): mark the bytes, so their rows fail as bad values and are counted.
            piece = piece.decode("utf-8", "replace").encode("utf-8")

        def skip(_row: Any) -> str:
            nonlocal malformed
            malformed += 1
            return "skip"

        read = pa_csv.ReadOptions(column_names=COLUMNS, block_size=1 << 20)
        parse = pa_csv.ParseOptions(invalid_row_handler=skip)
        typed = pa_csv.ConvertOptions(
            column_types={"ts": ts_type, "channel": _DICT, "value": pa.float64()},
            null_values=[],
            strings_can_be_null=False,
        )
        try:
            table = pa_csv.read_csv(pa.BufferReader(pa.py_buffer(piece)), read, parse, typed)
            lenient = False
        except pa.ArrowInvalid:
            malformed = 0
            as_text = pa_csv.ConvertOptions(
                column_types={"ts": pa.string(), "channel": _DICT, "value": pa.string()},
                null_values=[],
                strings_can_be_null=False,
            )
            try:
                table = pa_csv.read_csv(pa.BufferReader(pa.py_buffer(piece)), read, parse, as_text)
            except pa.ArrowInvalid:
                rows = piece.count(b"\n") + (not piece.endswith(b"\n"))
                self.stats.rows += rows
                self.stats.rejected[MALFORMED_ROW] += rows
                return None
            lenient = True
        self.stats.rows += table.num_rows + malformed
        if malformed:
            self.stats.rejected[MALFORMED_ROW] += malformed
        if lenient:
            ts, ts_ok = _lenient_ts(table.column("ts"), self.timezone, self._tz)
            value, value_ok = _lenient_float(table.column("value"))
            good = ts_ok & value_ok
            self._count(BAD_TIMESTAMP, int((~ts_ok).sum()))
            self._count(NON_NUMERIC_VALUE, int((ts_ok & ~value_ok).sum()))
        else:
            ts = _ts_seconds(table.column("ts"), self.timezone)
            value = table.column("value").to_numpy()
            good = None
        column = self._columns(table.column("channel"))
        return self._finish(ts, column, value, good)

    # JSON lines

    def _jsonl(self, mm: mmap.mmap) -> Iterator[Chunk]:
        for piece in self._pieces(mm, 0):
            chunk = self._jsonl_piece(piece)
            if chunk is not None and len(chunk):
                yield chunk

    def _jsonl_piece(self, data: bytes) -> Chunk | None:
        if not data.strip():
            return None
        try:
            table = pa_json.read_json(
                pa.BufferReader(data),
                parse_options=pa_json.ParseOptions(unexpected_field_behavior="ignore"),
            )
            if not {"ts", "channel", "value"} <= set(table.column_names):
                raise pa.ArrowInvalid("missing fields")
            ts_col, ch_col, val_col = (table.column(n) for n in COLUMNS)
            if ts_col.null_count or ch_col.null_count or val_col.null_count:
                raise pa.ArrowInvalid("null fields")
            if not pa.types.is_string(ch_col.type):
                raise pa.ArrowInvalid("channel is not a string")
            if pa.types.is_string(ts_col.type):
                ts = _iso_seconds(ts_col, self.timezone)
            elif pa.types.is_integer(ts_col.type) or pa.types.is_floating(ts_col.type):
                ts = _ts_seconds(ts_col)
            else:
                raise pa.ArrowInvalid("ts is neither a number nor a string")
            if not (pa.types.is_integer(val_col.type) or pa.types.is_floating(val_col.type)):
                raise pa.ArrowInvalid("value is not a number")
            value = val_col.cast(pa.float64()).to_numpy()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return self._jsonl_lenient(data)
        self.stats.rows += table.num_rows
        column = self._columns(pc.dictionary_encode(ch_col))
        return self._finish(ts, column, value, None)

    def _jsonl_lenient(self, data: bytes) -> Chunk | None:
        """Line by line: each bad line is counted under its reason."""
        ts_list: list[float] = []
        names: list[str] = []
        values: list[float] = []
        rejected = self.stats.rejected
        for line in data.splitlines():
            if not line.strip():
                continue
            self.stats.rows += 1
            try:
                row = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                rejected[MALFORMED_ROW] += 1
                continue
            if not isinstance(row, dict):
                rejected[MALFORMED_ROW] += 1
                continue
            if row.get("ts") is None or row.get("channel") is None or "value" not in row:
                rejected[MISSING_FIELD] += 1
                continue
            ts = _parse_ts(row["ts"], self._tz)
            if ts is None:
                rejected[BAD_TIMESTAMP] += 1
                continue
            value = _parse_float(row["value"])
            if value is None:
                rejected[NON_NUMERIC_VALUE] += 1
                continue
            ts_list.append(ts)
            names.append(str(row["channel"]))
            values.append(value)
        if not ts_list:
            return None
        column = self._columns(pc.dictionary_encode(pa.array(names, pa.string())))
        return self._finish(
            np.asarray(ts_list, dtype=np.float64), column, np.asarray(values, dtype=np.float64), None
        )

    # Shared

    def _count(self, reason: str, n: int) -> None:
        if n:
            self.stats.rejected[reason] += n

    def _columns(self, channel: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.int32]:
        """Site column of every row, mapping each distinct name once.

        An unknown name gets a negative code, -1 - k, k its number in ``self._unknown``, so the
        rows of each unknown name can be counted once the row is known to be good otherwise.
        """
        chunks = channel.chunks if isinstance(channel, pa.ChunkedArray) else [channel]
        parts: list[npt.NDArray[np.int32]] = []
        for part in chunks:
            names = part.dictionary.to_pylist()
            lookup = self.index.columns(names)
            for k in np.flatnonzero(lookup < 0).tolist():
                code = self._unknown_codes.setdefault(names[k], len(self._unknown_codes))
                lookup[k] = -1 - code
            indices = part.indices.to_numpy(zero_copy_only=False)
            parts.append(lookup[indices])
        if not parts:
            return np.zeros(0, dtype=np.int32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _finish(
        self,
        ts: npt.NDArray[np.float64],
        column: npt.NDArray[np.int32],
        value: npt.NDArray[np.float64],
        good: npt.NDArray[np.bool_] | None,
    ) -> Chunk:
        finite_ts = np.isfinite(ts)
        if not finite_ts.all():
            bad_ts = ~finite_ts if good is None else (~finite_ts & good)
            self._count(BAD_TIMESTAMP, int(bad_ts.sum()))
            good = finite_ts if good is None else (good & finite_ts)
        # Epoch units by magnitude; outside 2000..2100 in every unit: a broken clock.
        ts = epoch_seconds_array(np.asarray(ts, dtype=np.float64))
        implausible = finite_ts & np.isnan(ts)
        if implausible.any():
            self._count(IMPLAUSIBLE_TS, int((implausible if good is None else implausible & good).sum()))
            good = ~implausible if good is None else (good & ~implausible)
        unknown = column < 0
        if good is not None:
            unknown &= good
        if unknown.any():
            codes, counts = np.unique(-1 - column[unknown], return_counts=True)
            names = list(self._unknown_codes)
            for code, n in zip(codes.tolist(), counts.tolist(), strict=True):
                self.stats.unknown_channels[names[code]] += n
            self.stats.rejected[UNKNOWN_CHANNEL] += int(counts.sum())
        take = column >= 0
        if good is not None:
            take &= good
        if self.keep is not None:
            take &= self.keep[np.maximum(column, 0)]
        if not take.all():
            ts, column, value = ts[take], column[take], value[take]
        self.stats.readings += len(ts)
        return Chunk(
            np.ascontiguousarray(ts, dtype=np.float64),
            np.ascontiguousarray(column, dtype=np.int32),
            np.ascontiguousarray(value, dtype=np.float64),
        )


def _ts_seconds(col: pa.ChunkedArray | pa.Array, zone: str = "UTC") -> npt.NDArray[np.float64]:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_timestamp(col.type) and col.type.tz is None:
        # Local times of the site: the earlier of a repeated hour, a skipped hour moved on.
        col = pc.assume_timezone(col, timezone=zone, ambiguous="earliest", nonexistent="earliest")
    if pa.types.is_timestamp(col.type):
        micros = col.cast(pa.int64()).to_numpy(zero_copy_only=False)
        return micros.astype(np.float64) * 1e-6
    return np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _iso_seconds(col: pa.ChunkedArray, zone: str) -> npt.NDArray[np.float64]:
    """ISO 8601 text, all with an offset or all without (site time); ArrowInvalid for a mix."""
    try:
        return _ts_seconds(pc.cast(col, _TS_ISO))
    except pa.ArrowInvalid:
        return _ts_seconds(pc.cast(col, _TS_NAIVE), zone)


def _lenient_ts(
    col: pa.ChunkedArray, zone: str, tz: tzinfo
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    text = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    for target in (pa.float64(), _TS_ISO, _TS_NAIVE):
        try:
            return _ts_seconds(pc.cast(text, target), zone), np.ones(len(text), dtype=bool)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    parsed = [_parse_ts(s, tz) for s in text.to_pylist()]
    ok = np.fromiter((p is not None for p in parsed), dtype=bool, count=len(parsed))
    ts = np.fromiter((math.nan if p is None else p for p in parsed), dtype=np.float64, count=len(parsed))
    return ts, ok


def _lenient_float(col: pa.ChunkedArray) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    text = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    try:
        values = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=np.float64), np.ones(len(text), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    parsed = [_parse_float(s) for s in text.to_pylist()]
    ok = np.fromiter((p is not None for p in parsed), dtype=bool, count=len(parsed))
    values = np.fromiter((math.nan if p is None else p for p in parsed), dtype=np.float64, count=len(parsed))
    return values, ok


def _parse_float(raw: object) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            return None
    return None


def _parse_ts(raw: object, tz: tzinfo) -> float | None:
    """An epoch number (or numeric text; its unit is told in ``_finish``) or ISO 8601 (without an
    offset: in ``tz``, the site's zone); None otherwise."""
    number = _parse_float(raw)
    if number is not None:
        return number if math.isfinite(number) else None
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    try:
        return moment.timestamp()
    except (OverflowError, ValueError):  # the year 1 or 9999 shifted by a zone
        return None
