"""Decode the contract's MQTT sensor payload ``{"ts": ..., "values": {"<quantity>": number}}``.

Pure: bytes in, readings and the reasons for anything rejected out. The caller counts and logs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from jsonpath_ng import parse as jsonpath_parse

from drivers.device_time import IMPLAUSIBLE_TS, TimePolicy, epoch_seconds, judge_stamp, plausible
from gateway.vocab import Quality

MAX_PAYLOAD_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class PayloadLayout:
    """Where another vendor's payload keeps its readings, as JSON paths (jsonpath-ng syntax).

    ``readings`` points at a list of reading objects (one message, several readings); without it
    the whole document is one reading. ``ts`` and ``values`` are relative to a reading object.
    """

    values: dict[str, str]  # quantity -> path of its number
    ts: str | None = "$.ts"
    readings: str | None = None

    def compiled(self) -> _CompiledLayout:
        return _CompiledLayout(
            readings=jsonpath_parse(self.readings) if self.readings else None,
            ts=jsonpath_parse(self.ts) if self.ts else None,
            values={q: jsonpath_parse(path) for q, path in self.values.items()},
        )


@dataclass(frozen=True, slots=True)
class _CompiledLayout:
    readings: Any
    ts: Any
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeviceBinding:
    """A device as the decoder needs it: its id, the column of each quantity, its payload layout."""

    device: str
    columns: dict[str, int]
    layout: PayloadLayout | None = None  # None: the contract's {"ts": ..., "values": {...}}
    time: TimePolicy = field(default_factory=TimePolicy)
    _compiled: _CompiledLayout | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.layout is not None:
            object.__setattr__(self, "_compiled", self.layout.compiled())


@dataclass(slots=True)
class Decoded:
    ts: list[float] = field(default_factory=list)
    channel: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    quality: list[int] = field(default_factory=list)
    # Why the whole message was refused, if it was.
    malformed: str | None = None
    # Reasons readings were flagged or skipped, with counts (e.g. "non_numeric", "unknown_quantity").
    problems: dict[str, int] = field(default_factory=dict)
    # The first problem's detail, for the once-per-device log line (and each kind's first one).
    detail: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    # The newest plausible device stamp of the message, kept or not: how far the device's clock is
    # from the gateway's (None: the message carried no device time).
    newest_stamp: float | None = None

    def _problem(self, kind: str, detail: str) -> None:
        self.problems[kind] = self.problems.get(kind, 0) + 1
        self.details.setdefault(kind, detail)
        if self.detail is None:
            self.detail = detail


class PayloadError(ValueError):
    """A time that cannot be read; ``reason`` is the counted kind (``malformed`` or ``implausible_ts``)."""

    def __init__(self, message: str, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


def _to_float(raw: int | float) -> float:
    try:
        return float(raw)
    except OverflowError:  # a JSON integer beyond float range
        return math.inf


def _shown(raw: Any) -> str:
    """A short text of a JSON value for a log line (never the repr of a deep list or a long number)."""
    return type(raw).__name__ if isinstance(raw, (list, dict)) else repr(str(raw)[:40])


def parse_timestamp(raw: Any, naive_tz: tzinfo) -> float:
    """Epoch seconds from a number (s, ms, µs or ns, told apart by magnitude) or an ISO 8601 string
    (naive means site time).

    Only times in the years 2000..2100 count: anything else is a broken clock (reason
    ``implausible_ts``), and is refused rather than read in another unit.
    """
    if isinstance(raw, bool):
        raise PayloadError("ts is a boolean")
    if isinstance(raw, (int, float)):
        found = epoch_seconds(_to_float(raw))
        if found is None:
            raise PayloadError(
                f"ts {_shown(raw)} is not a time in 2000..2100 (as s, ms, µs or ns)", IMPLAUSIBLE_TS
            )
        return found
    if not isinstance(raw, str):
        raise PayloadError(f"ts has type {type(raw).__name__}")
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise PayloadError(f"ts {raw[:40]!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive_tz)
    try:
        ts = moment.timestamp()
    except (OverflowError, ValueError):  # the year 1 or 9999 shifted by a zone
        ts = math.nan
    if not plausible(ts):
        raise PayloadError(f"ts {_shown(raw)} is not a time in 2000..2100", IMPLAUSIBLE_TS)
    return ts


def decode_payload(payload: bytes, binding: DeviceBinding, arrival_ts: float, naive_tz: tzinfo) -> Decoded:
    out = Decoded()
    if len(payload) > MAX_PAYLOAD_BYTES:
        out.malformed = f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}"
        return out
    try:
        # Decoded first: json.loads of bytes sniffs their encoding each time. JSON between systems
        # is UTF-8 (RFC 8259); a byte-order mark some DTUs put first is skipped.
        doc = json.loads(payload.decode("utf-8-sig"))
    # ValueError covers bad UTF-8, bad JSON and an integer of more than 4300 digits.
    except (ValueError, RecursionError) as exc:
        out.malformed = f"not JSON: {exc}"[:200]
        return out
    if binding._compiled is not None:
        return _decode_layout(doc, binding, binding._compiled, arrival_ts, naive_tz, out)
    if not isinstance(doc, dict):
        out.malformed = f"expected a JSON object, got {type(doc).__name__}"
        return out
    values = doc.get("values")
    if not isinstance(values, dict):
        out.malformed = "no 'values' object"
        return out
    _add_reading(out, doc.get("ts"), list(values.items()), binding, arrival_ts, naive_tz, whole=True)
    return out


def _add_reading(
    out: Decoded,
    raw_ts: Any,
    values: list[tuple[Any, Any]],
    binding: DeviceBinding,
    arrival: float,
    tz: tzinfo,
    whole: bool = False,
) -> bool:
    """One reading object (a time and its values): its time read and checked, its values added.

    A refused time refuses every value of the reading, each counted under the time's reason; a time
    of the wrong form makes the whole message malformed when it is the message's only reading.
    False when the time could not be read at all.
    """
    if raw_ts is None or binding.time.source == "gateway":
        # No device time, or one not to be used (whatever it says): the arrival time stands in,
        # and the reading says so.
        _add_values(out, values, binding, arrival, Quality.TIME_ESTIMATED)
        return True
    try:
        stamp = parse_timestamp(raw_ts, tz)
    except PayloadError as exc:
        if exc.reason == "malformed" and whole:
            out.malformed = str(exc)
        else:
            _refuse(out, "bad_time" if exc.reason == "malformed" else exc.reason, str(exc), len(values))
        return False
    out.newest_stamp = stamp if out.newest_stamp is None else max(out.newest_stamp, stamp)
    verdict = judge_stamp(stamp, arrival, binding.time)
    if verdict.reason is not None:
        _refuse(out, verdict.reason, _off_by(stamp, arrival, binding.time), len(values))
    if verdict.ts is not None:
        flags = Quality.TIME_ESTIMATED if verdict.estimated else Quality.GOOD
        _add_values(out, values, binding, verdict.ts, flags)
    return True


def _off_by(stamp: float, arrival: float, policy: TimePolicy) -> str:
    ahead = stamp - arrival
    if ahead > 0:
        return f"stamped {ahead:.0f} s ahead of the gateway clock (tolerance {policy.tolerance_s:g} s)"
    return f"stamped {-ahead / 86400:.1f} days before arrival (limit {policy.max_age_s / 86400:g} days)"


def _refuse(out: Decoded, reason: str, detail: str, count: int) -> None:
    for _ in range(max(count, 1)):
        out._problem(reason, detail)


def _first(path: Any, doc: Any) -> Any:
    found = path.find(doc)
    return found[0].value if found else None


def _decode_layout(
    doc: Any,
    binding: DeviceBinding,
    layout: _CompiledLayout,
    arrival_ts: float,
    naive_tz: tzinfo,
    out: Decoded,
) -> Decoded:
    if layout.readings is not None:
        found = layout.readings.find(doc)
        items: list[Any] = []
        for match in found:
            items += match.value if isinstance(match.value, list) else [match.value]
        if not found:
            out.malformed = "no readings where the payload layout says"
            return out
    else:
        items = [doc]
    for item in items:
        pairs = [(q, _first(path, item)) for q, path in layout.values.items()]
        present = [(q, raw) for q, raw in pairs if raw is not None]
        raw_ts = _first(layout.ts, item) if layout.ts else None
        if not _add_reading(out, raw_ts, present, binding, arrival_ts, naive_tz):
            continue
        for q, raw in pairs:
            if raw is None:
                out._problem("missing_value", f"{q}: not in the payload")
    return out


def _add_values(out: Decoded, values: Any, binding: DeviceBinding, ts: float, flags: int) -> None:
    for quantity, raw in values:
        column = binding.columns.get(quantity)
        if column is None:
            out._problem("unknown_quantity", f"unknown quantity {str(quantity)[:40]!r}")
            continue
        quality = flags
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            out._problem("non_numeric", f"{quantity}: non-numeric value {_shown(raw)}")
            value = math.nan
            quality |= Quality.BAD_VALUE
        else:
            value = _to_float(raw)
            if not math.isfinite(value):
                out._problem("non_finite", f"{quantity}: value {_shown(raw)}")
                quality |= Quality.BAD_VALUE
        out.ts.append(ts)
        out.channel.append(column)
        out.value.append(value)
        out.quality.append(quality)
