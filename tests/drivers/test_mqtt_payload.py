"""The MQTT sensor payload ``{"ts": ..., "values": {"<quantity>": number}}``, decoded."""

from __future__ import annotations

import math
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from drivers.mqtt_payload import (
    MAX_PAYLOAD_BYTES,
    DeviceBinding,
    PayloadError,
    decode_payload,
    parse_timestamp,
)
from gateway.models import Quality

SITE_TZ = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
BINDING = DeviceBinding("crane1", {"load": 0, "radius": 1})
ARRIVAL = 1_700_000_100.0
T = 1_700_000_000.0
# 2024-01-02 03:04:05 in Shanghai (UTC+8).
T_ISO = 1_704_135_845.0

GOOD, EST, BAD = Quality.GOOD, Quality.TIME_ESTIMATED, Quality.BAD_VALUE
NAN = "nan"  # stands for a NaN value, which never equals itself


def short(value: object) -> str:
    return repr(value)[:32]


@pytest.mark.parametrize(
    ("raw", "tz", "expected"),
    [
        (1_700_000_000, SITE_TZ, T),
        (1_700_000_000.25, SITE_TZ, T + 0.25),
        (1_700_000_000_123, SITE_TZ, 1_700_000_000.123),
        (100_000_000_000, SITE_TZ, 100_000_000_000.0),  # 1e11 is still seconds
        (100_000_000_001, SITE_TZ, 100_000_000.001),  # above it, milliseconds
        ("2024-01-02T03:04:05+08:00", SITE_TZ, T_ISO),
        ("2024-01-01T19:04:05Z", SITE_TZ, T_ISO),
        (" 2024-01-02T03:04:05.5+08:00 ", SITE_TZ, T_ISO + 0.5),
        ("2024-01-02T03:04:05", SITE_TZ, T_ISO),  # naive: site time
        ("2024-01-01T19:04:05", UTC, T_ISO),
    ],
    ids=short,
)
def test_parse_timestamp(raw: Any, tz: ZoneInfo, expected: float) -> None:
    assert parse_timestamp(raw, tz) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (True, "ts is a boolean"),
        (False, "ts is a boolean"),
        ([1_700_000_000], "ts has type list"),
        ({"s": 1}, "ts has type dict"),
        ("yesterday", "ts 'yesterday' is not ISO 8601"),
        ("", "ts '' is not ISO 8601"),
        ("1700000000", "ts '1700000000' is not ISO 8601"),
        ("2024-01-02T03:04:05+25:00", "ts '2024-01-02T03:04:05+25:00' is not ISO 8601"),
        (0, "ts '0' is not a time"),
        (-5, "ts '-5' is not a time"),
        (math.nan, "ts 'nan' is not a time"),
        (math.inf, "ts 'inf' is not a time"),
        (10**400, f"ts '{'1' + '0' * 39}' is not a time"),
        (10**20, "ts '100000000000000000000' is not a time"),  # ms, yet past the year 5138
        ("1969-12-31T23:59:59Z", "ts '1969-12-31T23:59:59Z' is not a time"),
        ("9999-12-31T23:59:59Z", "ts '9999-12-31T23:59:59Z' is not a time"),
    ],
    ids=short,
)
def test_parse_timestamp_refuses(raw: Any, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_timestamp(raw, SITE_TZ)
    assert str(caught.value) == message


def readings(payload: bytes) -> tuple[list[tuple[float, int, float | str, int]], dict[str, int], str | None]:
    out = decode_payload(payload, BINDING, ARRIVAL, SITE_TZ)
    assert out.malformed is None
    values = [NAN if math.isnan(v) else v for v in out.value]
    return list(zip(out.ts, out.channel, values, out.quality, strict=True)), out.problems, out.detail


NO_PROBLEM: tuple[dict[str, int], None] = ({}, None)
DECODED: dict[str, tuple[bytes, list[Any], dict[str, int], str | None]] = {
    "float": (b'{"ts": 1700000000, "values": {"load": 12.5}}', [(T, 0, 12.5, GOOD)], *NO_PROBLEM),
    "int_ms": (
        b'{"ts": 1700000000123, "values": {"load": 3}}',
        [(1_700_000_000.123, 0, 3.0, GOOD)],
        *NO_PROBLEM,
    ),
    "naive_iso": (
        b'{"ts": "2024-01-02T03:04:05", "values": {"load": 1}}',
        [(T_ISO, 0, 1.0, GOOD)],
        *NO_PROBLEM,
    ),
    "no_ts": (b'{"values": {"load": 1}}', [(ARRIVAL, 0, 1.0, EST)], *NO_PROBLEM),
    "null_ts": (b'{"ts": null, "values": {"load": 1}}', [(ARRIVAL, 0, 1.0, EST)], *NO_PROBLEM),
    "no_values": (b'{"ts": 1700000000, "values": {}}', [], *NO_PROBLEM),
    "payload_order": (
        b'{"ts": 1700000000, "values": {"radius": 30.5, "load": 2}}',
        [(T, 1, 30.5, GOOD), (T, 0, 2.0, GOOD)],
        *NO_PROBLEM,
    ),
    "string": (
        b'{"ts": 1700000000, "values": {"load": "12.5"}}',
        [(T, 0, NAN, BAD)],
        {"non_numeric": 1},
        "load: non-numeric value '12.5'",
    ),
    "string_no_ts": (
        b'{"values": {"load": "12.5"}}',
        [(ARRIVAL, 0, NAN, EST | BAD)],
        {"non_numeric": 1},
        "load: non-numeric value '12.5'",
    ),
    "bool_null": (
        b'{"ts": 1700000000, "values": {"load": true, "radius": null}}',
        [(T, 0, NAN, BAD), (T, 1, NAN, BAD)],
        {"non_numeric": 2},
        "load: non-numeric value 'True'",
    ),
    "nested_list": (
        b'{"ts": 1700000000, "values": {"load": [[[1]]]}}',
        [(T, 0, NAN, BAD)],
        {"non_numeric": 1},
        "load: non-numeric value list",
    ),
    "nan_infinity": (
        b'{"ts": 1700000000, "values": {"load": NaN, "radius": Infinity}}',
        [(T, 0, NAN, BAD), (T, 1, math.inf, BAD)],
        {"non_finite": 2},
        "load: value 'nan'",
    ),
    "minus_infinity": (
        b'{"ts": 1700000000, "values": {"load": -Infinity}}',
        [(T, 0, -math.inf, BAD)],
        {"non_finite": 1},
        "load: value '-inf'",
    ),
    "float_overflow": (
        b'{"ts": 1700000000, "values": {"load": 1e309}}',
        [(T, 0, math.inf, BAD)],
        {"non_finite": 1},
        "load: value 'inf'",
    ),
    "huge_int": (
        b'{"ts": 1700000000, "values": {"load": 1' + b"0" * 400 + b"}}",
        [(T, 0, math.inf, BAD)],
        {"non_finite": 1},
        f"load: value '{'1' + '0' * 39}'",
    ),
    "unknown_quantity": (
        b'{"ts": 1700000000, "values": {"height": 3, "load": 1, "x": "y"}}',
        [(T, 0, 1.0, GOOD)],
        {"unknown_quantity": 2},
        "unknown quantity 'height'",
    ),
}


@pytest.mark.parametrize(("payload", "rows", "problems", "detail"), DECODED.values(), ids=DECODED.keys())
def test_decode_payload(
    payload: bytes, rows: list[Any], problems: dict[str, int], detail: str | None
) -> None:
    assert readings(payload) == (rows, problems, detail)


def test_payload_of_the_largest_size_is_decoded() -> None:
    body = b'{"ts": 1700000000, "values": {"load": 1}}'
    payload = body + b" " * (MAX_PAYLOAD_BYTES - len(body))
    assert readings(payload) == ([(T, 0, 1.0, GOOD)], {}, None)


MALFORMED = {
    "not_json": (b"not json", "not JSON: Expecting value: line 1 column 1 (char 0)"),
    "empty": (b"", "not JSON: Expecting value: line 1 column 1 (char 0)"),
    "cut_short": (b'{"values": {"load": 1}', "not JSON: Expecting ',' delimiter: line 1 column 23 (char 22)"),
    "array": (b"[1, 2]", "expected a JSON object, got list"),
    "string": (b'"values"', "expected a JSON object, got str"),
    "no_values": (b'{"ts": 1700000000}', "no 'values' object"),
    "values_array": (b'{"values": [1, 2]}', "no 'values' object"),
    "values_null": (b'{"values": null}', "no 'values' object"),
    "ts_not_iso": (b'{"ts": "yesterday", "values": {"load": 1}}', "ts 'yesterday' is not ISO 8601"),
    "ts_bool": (b'{"ts": true, "values": {"load": 1}}', "ts is a boolean"),
    "ts_zero": (b'{"ts": 0, "values": {"load": 1}}', "ts '0' is not a time"),
    "bad_utf8": (
        b'{"values": {"load": "\xff"}}',
        "not JSON: 'utf-8' codec can't decode byte 0xff in position 21: invalid start byte",
    ),
    "deep_nesting": (
        b"[" * 100_000 + b"]" * 100_000,
        "not JSON: maximum recursion depth exceeded while decoding a JSON array from a unicode string",
    ),
    "5000_digits": (
        b'{"values": {"load": 1' + b"0" * 5000 + b"}}",
        "not JSON: Exceeds the limit (4300 digits) for integer string conversion: value has 5001 digits;"
        " use sys.set_int_max_str_digits() to increase the limit",
    ),
    "oversize": (
        b'{"values": {}}' + b" " * MAX_PAYLOAD_BYTES,
        f"payload of {MAX_PAYLOAD_BYTES + 14} bytes exceeds {MAX_PAYLOAD_BYTES}",
    ),
}


@pytest.mark.parametrize(("payload", "malformed"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_payload_is_refused_whole(payload: bytes, malformed: str) -> None:
    out = decode_payload(payload, BINDING, ARRIVAL, SITE_TZ)
    assert (out.malformed, out.ts, out.channel, out.value, out.quality) == (malformed, [], [], [], [])
    assert (out.problems, out.detail) == ({}, None)
