"""InfluxDB line protocol for the gateway's stored records: readings, alarm events, crane cycles.

Layout (docs/influxdb.md tells the same with examples), every timestamp in milliseconds:

``reading``
    tags ``site``, ``device``, ``channel``, ``quantity`` (+ extra tags); fields ``value`` (float,
    omitted when the value is NaN or infinite, i.e. a bad reading), ``quality`` (integer flags,
    ``Quality``), ``seq`` (integer, the local store's sequence number); time = acquisition time.
``alarm_event``
    tags ``site``, ``channel``, ``rule``, ``state`` (+ extra tags); fields ``grade`` (integer),
    ``value`` and ``limit`` (float, omitted when null), ``id``, ``alarm_id``, ``unit`` and
    ``message`` (strings), ``seq`` (integer); time = the event's ``ts``.
``crane_cycle``
    tags ``site``, ``crane`` (+ extra tags); every numeric field of the document as a float field
    (a float always, so an integer in one document and a fraction in the next never conflict),
    ``id`` (string), ``seq`` (integer); time = the cycle's ``start``.

Escaping: tag keys, tag values and field keys escape ``,`` ``=`` and space with a backslash;
newline, carriage return and tab (which no parser accepts there) become an escaped space; an empty
tag value drops the tag. A backslash in a tag is written as ``/``: InfluxDB keeps ``\\\\`` as two
characters where VictoriaMetrics reads one, and a trailing backslash escapes the separator after it
on both, so no spelling means the same to both servers. String fields escape ``\\`` and ``"`` and
write newline, carriage return and tab as ``\\n``, ``\\r``, ``\\t`` (a raw newline would end the
line: VictoriaMetrics then drops both halves, silently).

A record that cannot be encoded (unknown channel column, a document that is not JSON or lacks a
required key, a non-finite timestamp) is left out and counted with its reason in ``Encoded``: the
caller reports it as refused for good.

Readings are encoded from whole columns: one line prefix per channel is built once, the numeric
columns are turned into Python lists by numpy, and one f-string per line joins them (see
``benchmarks/influx_encode.py``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.vocab import ChannelMeta

READING = "reading"
ALARM_EVENT = "alarm_event"
CRANE_CYCLE = "crane_cycle"

# Tag names the layout owns; extra tags may not reuse them.
RESERVED_TAGS = frozenset({"site", "device", "channel", "quantity", "rule", "state", "crane"})

_ESCAPE_MEASUREMENT = str.maketrans(
    {",": "\\,", " ": "\\ ", "\\": "/", "\n": "\\ ", "\r": "\\ ", "\t": "\\ "}
)
_ESCAPE_KEY = str.maketrans(
    {",": "\\,", "=": "\\=", " ": "\\ ", "\\": "/", "\n": "\\ ", "\r": "\\ ", "\t": "\\ "}
)
_ESCAPE_STRING = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def escape_measurement(name: str) -> str:
    return name.translate(_ESCAPE_MEASUREMENT)


def escape_key(text: str) -> str:
    """A tag key, tag value or field key."""
    return text.translate(_ESCAPE_KEY)


def quote_string(text: str) -> str:
    """A string field value, quotes included."""
    return '"' + text.translate(_ESCAPE_STRING) + '"'


def tag_set(tags: Mapping[str, str]) -> str:
    """``,k=v,k=v`` sorted by key (InfluxDB's advice), tags with an empty value left out."""
    return "".join(f",{escape_key(k)}={escape_key(v)}" for k, v in sorted(tags.items()) if v != "")


def float_text(value: float) -> str:
    """Shortest text that reads back as the same float (``repr``); the caller excludes NaN and inf."""
    return repr(float(value))


def epoch_ms(ts: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Epoch seconds to integer milliseconds, rounded to the nearest (not truncated)."""
    return np.rint(np.asarray(ts, dtype=np.float64) * 1000.0).astype(np.int64)


def iso_to_ms(text: str) -> int:
    """ISO 8601 (``Z`` or an offset; a naive time is taken as UTC) to epoch milliseconds."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_MS


@dataclass(kw_only=True)
class Refusals:
    """Records refused for good: how many, and each distinct reason once."""

    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def refuse(self, count: int, reason: str) -> None:
        self.rejected += count
        if reason not in self.reasons:
            self.reasons.append(reason)


@dataclass
class Encoded(Refusals):
    """Lines ready to send, and the records that could not be encoded, with why."""

    lines: list[str] = field(default_factory=list)


class ReadingEncoder:
    """Encodes struct-of-arrays readings; ``channels[i]`` names column ``i``.

    Each channel's ``reading,<tags> `` prefix is built once here, so a line costs one f-string.
    """

    def __init__(self, site: str, channels: Sequence[ChannelMeta], extra_tags: Mapping[str, str]) -> None:
        check_extra_tags(extra_tags)
        prefixes = [
            escape_measurement(READING)
            + tag_set(
                {
                    **extra_tags,
                    "site": site,
                    "device": meta.device,
                    "channel": meta.id,
                    "quantity": meta.quantity,
                }
            )
            + " "
            for meta in channels
        ]
        self._prefixes: npt.NDArray[np.object_] = np.empty(len(prefixes), dtype=object)
        self._prefixes[:] = prefixes

    @property
    def channel_count(self) -> int:
        return len(self._prefixes)

    def encode(
        self,
        seq: npt.NDArray[np.int64],
        ts: npt.NDArray[np.float64],
        channel: npt.NDArray[np.int32],
        value: npt.NDArray[np.float64],
        quality: npt.NDArray[np.uint8],
    ) -> Encoded:
        out = Encoded()
        channel = np.asarray(channel)
        ts = np.asarray(ts, dtype=np.float64)
        usable = (channel >= 0) & (channel < len(self._prefixes)) & np.isfinite(ts)
        if not usable.all():
            bad_channel = (channel < 0) | (channel >= len(self._prefixes))
            if bad_channel.any():
                columns = sorted({int(c) for c in channel[bad_channel][:5]})
                out.refuse(
                    int(bad_channel.sum()),
                    f"reading for unknown channel column {columns} (site has {len(self._prefixes)})",
                )
            bad_ts = ~np.isfinite(ts) & ~bad_channel
            if bad_ts.any():
                out.refuse(int(bad_ts.sum()), "reading with a non-finite timestamp")
            seq, ts, channel, value, quality = (
                np.asarray(seq)[usable],
                ts[usable],
                channel[usable],
                np.asarray(value)[usable],
                np.asarray(quality)[usable],
            )
        values = np.asarray(value, dtype=np.float64)
        # A bad reading keeps its line (quality and seq tell why it has no value).
        fields = [
            f"value={v!r},quality=" if ok else "quality="
            for v, ok in zip(values.tolist(), np.isfinite(values).tolist(), strict=True)
        ]
        out.lines = [
            f"{p}{f}{q}i,seq={s}i {t}"
            for p, f, q, s, t in zip(
                self._prefixes[channel].tolist(),
                fields,
                np.asarray(quality).tolist(),
                np.asarray(seq).tolist(),
                epoch_ms(ts).tolist(),
                strict=True,
            )
        ]
        return out


def check_extra_tags(extra_tags: Mapping[str, str]) -> None:
    clash = sorted(RESERVED_TAGS.intersection(extra_tags))
    if clash:
        raise ValueError(f"extra tags may not redefine the layout's tags: {', '.join(clash)}")
    empty = sorted(k for k, v in extra_tags.items() if not k or not v)
    if empty:
        raise ValueError(f"extra tags need a non-empty name and value: {empty}")


_Parts = tuple[dict[str, str], list[str], int]  # tags, fields, timestamp (ms)


def encode_events(
    documents: Sequence[str], seq: Sequence[int], site: str, extra_tags: Mapping[str, str]
) -> Encoded:
    """Alarm events (the JSON contract of ``AlarmEvent.to_json``) as ``alarm_event`` lines."""

    def parts(text: str, number: int) -> _Parts:
        doc = _load_object(text, required=("id", "ts", "channel", "rule", "state", "grade"))
        grade = doc["grade"]
        if isinstance(grade, bool) or not isinstance(grade, int | float) or grade != int(grade):
            raise ValueError(f"grade {grade!r} is not an integer")
        tags = {
            **extra_tags,
            "site": str(doc.get("site") or site),
            "channel": str(doc["channel"]),
            "rule": str(doc["rule"]),
            "state": str(doc["state"]),
        }
        fields = [f"grade={int(grade)}i"]
        for key in ("value", "limit"):
            number_text = _finite_float(doc.get(key))
            if number_text is not None:
                fields.append(f"{key}={number_text}")
        for key in ("id", "alarm_id", "unit", "message"):
            if isinstance(doc.get(key), str):
                fields.append(f"{key}={quote_string(doc[key])}")
        fields.append(f"seq={int(number)}i")
        return tags, fields, iso_to_ms(str(doc["ts"]))

    return _encode_each(documents, seq, ALARM_EVENT, "alarm event", parts)


def encode_cycles(
    documents: Sequence[str], seq: Sequence[int], site: str, extra_tags: Mapping[str, str]
) -> Encoded:
    """Crane cycles (JSON with ``id``, ``crane``, ``start``, ``end`` and numbers) as ``crane_cycle`` lines."""

    def parts(text: str, number: int) -> _Parts:
        doc = _load_object(text, required=("id", "crane", "start"))
        tags = {**extra_tags, "site": str(doc.get("site") or site), "crane": str(doc["crane"])}
        fields = []
        for key, raw in sorted(doc.items()):
            if key in ("seq", "id", "site", "crane"):
                continue
            number_text = _finite_float(raw)
            if number_text is not None:
                fields.append(f"{escape_key(key)}={number_text}")
        fields.append(f"id={quote_string(str(doc['id']))}")
        fields.append(f"seq={int(number)}i")
        return tags, fields, iso_to_ms(str(doc["start"]))

    return _encode_each(documents, seq, CRANE_CYCLE, "crane cycle", parts)


def _encode_each(
    documents: Sequence[str],
    seq: Sequence[int],
    measurement: str,
    what: str,
    parts: Callable[[str, int], _Parts],
) -> Encoded:
    """One line per JSON document; one that ``parts`` cannot read is refused with the reason."""
    out = Encoded()
    for text, number in zip(documents, seq, strict=True):
        try:
            tags, fields, stamp = parts(text, number)
        except (ValueError, TypeError, OverflowError) as exc:
            out.refuse(1, f"{what} not encodable: {exc}")
            continue
        out.lines.append(f"{measurement}{tag_set(tags)} {','.join(fields)} {stamp}")
    return out


def _load_object(text: str, required: Sequence[str]) -> dict[str, Any]:
    """The JSON object ``text`` holds, with a value (not null, not empty) for each ``required`` key."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    for key in required:
        if doc.get(key) in (None, ""):
            raise ValueError(f"no {key!r}")
    return doc


def _finite_float(raw: object) -> str | None:
    """The field text of a JSON number, or None for null, booleans, text and NaN/inf."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    number = float(raw)
    return float_text(number) if math.isfinite(number) else None
