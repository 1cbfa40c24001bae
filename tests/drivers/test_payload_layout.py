"""Vendor payload layouts: JSON paths to the time, the values, and lists of readings."""

from __future__ import annotations

import json
from datetime import UTC

from drivers.mqtt_payload import Decoded, DeviceBinding, PayloadLayout, decode_payload
from gateway.vocab import Quality

BINDING = DeviceBinding(
    "dtu", {"ws": 0, "wd": 1}, PayloadLayout({"ws": "$.w.s", "wd": "$.w.d"}, ts="$.t", readings="$.rows[*]")
)


T0 = 1_700_000_000  # 2023-11-14T22:13:20Z
ARRIVAL = T0 + 99.0


def decode(doc: object, binding: DeviceBinding = BINDING) -> Decoded:
    return decode_payload(json.dumps(doc).encode(), binding, ARRIVAL, UTC)


def test_rows_each_with_time_and_values() -> None:
    out = decode(
        {"rows": [{"t": T0 + 10, "w": {"s": 3.5, "d": 180}}, {"t": "2023-11-14T22:13:31Z", "w": {"s": 4}}]}
    )
    assert out.ts == [T0 + 10.0, T0 + 10.0, T0 + 11.0]
    assert out.channel == [0, 1, 0]
    assert out.value == [3.5, 180.0, 4.0]
    assert out.problems == {"missing_value": 1}


def test_bad_rows_are_counted_not_fatal() -> None:
    out = decode({"rows": [{"t": "yesterday", "w": {"s": 1}}, {"t": T0 + 12, "w": {"s": "high", "d": 1}}]})
    assert out.problems == {"bad_time": 1, "non_numeric": 1}
    assert out.quality == [Quality.BAD_VALUE, Quality.GOOD]


def test_no_rows_is_malformed_and_no_time_is_arrival() -> None:
    assert decode({"other": []}).malformed == "no readings where the payload layout says"
    single = DeviceBinding("g", {"level": 0}, PayloadLayout({"level": "$.lvl"}, ts=None))
    out = decode({"lvl": 2}, single)
    assert (out.ts, out.quality) == ([ARRIVAL], [Quality.TIME_ESTIMATED])
