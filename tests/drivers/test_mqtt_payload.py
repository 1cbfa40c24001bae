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
from gateway.vocab import Quality

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
        (1_700_000_000_123_456, SITE_TZ, 1_700_000_000.123456),  # microseconds
        (1_700_000_000_123_456_768, SITE_TZ, 1_700_000_000.1234567),  # nanoseconds
        (946_684_800, SITE_TZ, 946_684_800.0),  # 2000-01-01T00:00:00Z, the earliest time taken
        (946_684_800_000, SITE_TZ, 946_684_800.0),  # ... in milliseconds
        (4_102_444_799, SITE_TZ, 4_102_444_799.0),  # the last second of 2099
        ("2000-01-01T08:00:00", SITE_TZ, 946_684_800.0),  # naive, in the site's zone (UTC+8)
        ("2024-07-01T12:00:00", ZoneInfo("Europe/Berlin"), 1_719_828_000.0),  # summer time, UTC+2
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
        (0, "ts '0' is not a time in 2000..2100 (as s, ms, µs or ns)"),
        (-5, "ts '-5' is not a time in 2000..2100 (as s, ms, µs or ns)"),
        (math.nan, "ts 'nan' is not a time in 2000..2100 (as s, ms, µs or ns)"),
        (math.inf, "ts 'inf' is not a time in 2000..2100 (as s, ms, µs or ns)"),
        (10**400, f"ts '{'1' + '0' * 39}' is not a time in 2000..2100 (as s, ms, µs or ns)"),
        (10**20, "ts '100000000000000000000' is not a time in 2000..2100 (as s, ms, µs or ns)"),
        # The year 10000 in seconds: no unit makes it plausible, so it is not read as ms (1978).
        (253_402_300_800, "ts '253402300800' is not a time in 2000..2100 (as s, ms, µs or ns)"),
        (100_000_000_000, "ts '100000000000' is not a time in 2000..2100 (as s, ms, µs or ns)"),
        (946_684_799, "ts '946684799' is not a time in 2000..2100 (as s, ms, µs or ns)"),  # 1999
        (4_102_444_800, "ts '4102444800' is not a time in 2000..2100 (as s, ms, µs or ns)"),  # 2100
        ("1969-12-31T23:59:59Z", "ts '1969-12-31T23:59:59Z' is not a time in 2000..2100"),
        ("1999-12-31T23:59:59Z", "ts '1999-12-31T23:59:59Z' is not a time in 2000..2100"),
        ("9999-12-31T23:59:59Z", "ts '9999-12-31T23:59:59Z' is not a time in 2000..2100"),
        ("0001-01-01T00:00:00", "ts '0001-01-01T00:00:00' is not a time in 2000..2100"),
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
    "naive_iso": (  # site time (UTC+8) of T
        b'{"ts": "2023-11-15T06:13:20", "values": {"load": 1}}',
        [(T, 0, 1.0, GOOD)],
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


def test_a_byte_order_mark_before_the_document_is_skipped() -> None:
    out = decode_payload(b'\xef\xbb\xbf{"ts": 1700000000, "values": {"load": 2.5}}', BINDING, ARRIVAL, UTC)
    assert out.malformed is None
    assert (out.ts, out.channel, out.value) == ([T], [0], [2.5])


@pytest.mark.parametrize(
    "payload",
    [b'{"ts": 1700000000, "values": {"load": 2.5}\xff}', '{"values": {}}'.encode("utf-16")],
    ids=["bad UTF-8", "UTF-16"],
)
def test_a_document_not_in_utf8_is_malformed(payload: bytes) -> None:
    out = decode_payload(payload, BINDING, ARRIVAL, UTC)
    assert out.malformed is not None and out.malformed.startswith("not JSON")
    assert out.ts == []
