"""The line protocol encoder: exact lines, escaping, and a round trip through a real VictoriaMetrics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from influxdb_client import Point, WritePrecision

from drivers.line_protocol import (
    ReadingEncoder,
    encode_cycles,
    encode_events,
    escape_key,
    iso_to_ms,
    quote_string,
    tag_set,
)
from gateway.vocab import AlarmEvent, ChannelMeta, Quality
from tests.vm import VictoriaMetrics

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
CHANNELS = [
    ChannelMeta("tc1.tilt_x", "tc1-inclinometer", "tilt", "deg"),
    ChannelMeta("wind.speed", "anemometer", "wind_speed", "m/s"),
]


def readings(
    encoder: ReadingEncoder,
    seq: list[int],
    ts: list[float],
    channel: list[int],
    value: list[float],
    quality: list[int],
) -> tuple[list[str], int, list[str]]:
    out = encoder.encode(
        np.asarray(seq, np.int64),
        np.asarray(ts, np.float64),
        np.asarray(channel, np.int32),
        np.asarray(value, np.float64),
        np.asarray(quality, np.uint8),
    )
    return out.lines, out.rejected, out.reasons


def unquote_influx(field: str) -> str:
    """How InfluxDB reads a string field: only ``\\\\`` and ``\\"`` are escapes."""
    assert field.startswith('"') and field.endswith('"')
    body, out, i = field[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in '\\"':
            out.append(body[i + 1])
            i += 2
        else:
            assert body[i] != '"', f"unescaped quote in {field!r}"
            out.append(body[i])
            i += 1
    return "".join(out)


def test_readings_encode_to_exact_lines_with_sorted_tags() -> None:
    encoder = ReadingEncoder("site-7", CHANNELS, {"gateway": "gw-01"})
    lines, rejected, _ = readings(
        encoder,
        seq=[41, 42, 43],
        ts=[T0, T0 + 0.25, T0 + 1.0],
        channel=[0, 1, 0],
        value=[1.5, 12.0, -0.001],
        quality=[0, Quality.TIME_ESTIMATED, 0],
    )
    assert rejected == 0
    assert lines == [
        "reading,channel=tc1.tilt_x,device=tc1-inclinometer,gateway=gw-01,quantity=tilt,site=site-7 "
        "value=1.5,quality=0i,seq=41i 1700000000000",
        "reading,channel=wind.speed,device=anemometer,gateway=gw-01,quantity=wind_speed,site=site-7 "
        "value=12.0,quality=1i,seq=42i 1700000000250",
        "reading,channel=tc1.tilt_x,device=tc1-inclinometer,gateway=gw-01,quantity=tilt,site=site-7 "
        "value=-0.001,quality=0i,seq=43i 1700000001000",
    ]


def test_bad_reading_keeps_quality_and_seq_but_no_value() -> None:
    encoder = ReadingEncoder("s", CHANNELS[:1], {})
    lines, rejected, _ = readings(
        encoder,
        seq=[1, 2, 3],
        ts=[T0, T0, T0],
        channel=[0, 0, 0],
        value=[math.nan, math.inf, -math.inf],
        quality=[Quality.BAD_COMM, Quality.BAD_VALUE, Quality.BAD_VALUE | Quality.BAD_RANGE],
    )
    assert rejected == 0
    fields = [line.split(" ")[1] for line in lines]
    assert fields == ["quality=16i,seq=1i", "quality=32i,seq=2i", "quality=96i,seq=3i"]


def test_timestamps_are_rounded_to_the_nearest_millisecond() -> None:
    encoder = ReadingEncoder("s", CHANNELS[:1], {})
    lines, _, _ = readings(
        encoder,
        seq=[1, 2, 3],
        ts=[T0 + 0.123, T0 + 0.0004, T0 + 0.9996],
        channel=[0, 0, 0],
        value=[1.0, 1.0, 1.0],
        quality=[0, 0, 0],
    )
    assert [int(line.rsplit(" ", 1)[1]) for line in lines] == [
        1_700_000_000_123,
        1_700_000_000_000,
        1_700_000_001_000,
    ]


def test_values_read_back_as_the_same_float() -> None:
    values = [0.1, 1 / 3, 1e-300, 6.02214076e23, -123456.789, 5e-324]
    encoder = ReadingEncoder("s", CHANNELS[:1], {})
    lines, _, _ = readings(encoder, [1] * 6, [T0] * 6, [0] * 6, values, [0] * 6)
    parsed = [float(line.split(" ")[1].split(",")[0].removeprefix("value=")) for line in lines]
    assert parsed == values


def test_unknown_channel_column_and_bad_timestamp_are_refused_and_the_rest_encoded() -> None:
    encoder = ReadingEncoder("s", CHANNELS, {})
    lines, rejected, reasons = readings(
        encoder,
        seq=[1, 2, 3, 4],
        ts=[T0, T0, math.nan, T0],
        channel=[0, 7, 1, 1],
        value=[1.0, 2.0, 3.0, 4.0],
        quality=[0, 0, 0, 0],
    )
    assert rejected == 2
    assert [line.split(" ")[1] for line in lines] == [
        "value=1.0,quality=0i,seq=1i",
        "value=4.0,quality=0i,seq=4i",
    ]
    assert any("unknown channel column [7]" in reason for reason in reasons)
    assert any("non-finite timestamp" in reason for reason in reasons)


def test_line_matches_influxdb_client_point_for_ordinary_values() -> None:
    """Same series and fields as the library would write (its Point sorts fields, we do not)."""
    encoder = ReadingEncoder("site 7", CHANNELS[:1], {})
    (line,), _, _ = readings(encoder, [9], [T0 + 0.5], [0], [2.25], [1])
    point = (
        Point("reading")
        .tag("site", "site 7")
        .tag("device", "tc1-inclinometer")
        .tag("channel", "tc1.tilt_x")
        .tag("quantity", "tilt")
        .field("value", 2.25)
        .field("quality", 1)
        .field("seq", 9)
        .time(1_700_000_000_500, WritePrecision.MS)
    )
    ours_key, ours_fields, ours_time = line.rsplit(" ", 2)
    their_key, their_fields, their_time = point.to_line_protocol().rsplit(" ", 2)
    assert (
        ours_key
        == their_key
        == ("reading,channel=tc1.tilt_x,device=tc1-inclinometer,quantity=tilt,site=site\\ 7")
    )
    assert sorted(ours_fields.split(",")) == sorted(their_fields.split(","))
    assert ours_time == their_time


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ("a b", "a\\ b"),
        ("a,b", "a\\,b"),
        ("k=v", "k\\=v"),
        ('say "hi"', 'say\\ "hi"'),
        ("C:\\sensors\\", "C:/sensors/"),
        ("two\nlines\r\tend", "two\\ lines\\ \\ end"),
        ("塔吊 1号", "塔吊\\ 1号"),
    ],
)
def test_escape_key(raw: str, escaped: str) -> None:
    assert escape_key(raw) == escaped


def test_tag_set_sorts_keys_and_drops_empty_values() -> None:
    assert tag_set({"site": "s 1", "device": "", "channel": "c,1"}) == ",channel=c\\,1,site=s\\ 1"


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ('he said "stop"', 'he said "stop"'),
        ("C:\\path\\", "C:\\path\\"),
        ("line one\nline two", "line one\\nline two"),
        ('\\"', '\\"'),
        ("", ""),
    ],
)
def test_quote_string_reads_back_as_influxdb_stores_it(text: str, stored: str) -> None:
    quoted = quote_string(text)
    assert "\n" not in quoted and "\r" not in quoted
    assert unquote_influx(quoted) == stored


@given(st.text())
def test_quote_string_never_breaks_a_line_and_keeps_the_text(text: str) -> None:
    quoted = quote_string(text)
    assert "\n" not in quoted and "\r" not in quoted
    assert unquote_influx(quoted) == text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def alarm_event(**overrides: object) -> AlarmEvent:
    fields: dict[str, object] = {
        "site": "site-7",
        "ts": T0 + 2.5,
        "channel": "wind.speed",
        "rule": "wind_gust",
        "grade": 2,
        "state": "raised",
        "value": 17.5,
        "limit": 15.0,
        "unit": "m/s",
        "message": "wind 17.5 m/s above 15",
        "alarm_id": "a1",
        "id": "e1",
    }
    fields.update(overrides)
    return AlarmEvent(**fields)  # type: ignore[arg-type]


def test_alarm_event_line() -> None:
    out = encode_events([alarm_event().to_json()], [77], "site-7", {})
    assert out.rejected == 0
    assert out.lines == [
        "alarm_event,channel=wind.speed,rule=wind_gust,site=site-7,state=raised "
        'grade=2i,value=17.5,limit=15.0,id="e1",alarm_id="a1",unit="m/s",'
        'message="wind 17.5 m/s above 15",seq=77i 1700000002500'
    ]


def test_alarm_event_without_value_or_limit_and_with_a_hostile_message() -> None:
    message = 'line 1\nline 2 "quoted", back\\slash, a=b'
    event = alarm_event(value=None, limit=None, message=message, state="cleared", grade=0)
    out = encode_events([event.to_json()], [1], "site-7", {})
    (line,) = out.lines
    assert "\n" not in line
    assert " grade=0i,id=" in line and "value=" not in line and "limit=" not in line
    message_field = line.split(",message=", 1)[1].rsplit(",seq=", 1)[0]
    assert unquote_influx(message_field) == message.replace("\n", "\\n")


def test_undecodable_events_are_refused_with_a_reason_and_the_rest_encoded() -> None:
    good = alarm_event().to_json()
    no_ts = json.dumps({k: v for k, v in json.loads(good).items() if k != "ts"})
    out = encode_events(["{not json", no_ts, good, "[1, 2]"], [1, 2, 3, 4], "site-7", {})
    assert out.rejected == 3
    assert len(out.lines) == 1 and out.lines[0].endswith("seq=3i 1700000002500")
    assert any("not JSON" in r for r in out.reasons)
    assert any("no 'ts'" in r for r in out.reasons)
    assert any("not a JSON object" in r for r in out.reasons)


def test_crane_cycle_line_has_every_number_as_a_float() -> None:
    cycle = {
        "id": "cy-1",
        "crane": "TC 1",
        "start": "2023-11-14T22:13:20.000Z",
        "end": "2023-11-14T22:15:00.000Z",
        "duration_s": 100,
        "max_load_t": 3.25,
        "max_moment_pct": 81.5,
        "overload": False,
        "operator": "li",
        "note": None,
        "nested": {"a": 1},
    }
    out = encode_cycles([json.dumps(cycle)], [5], "site-7", {"gateway": "gw"})
    assert out.lines == [
        "crane_cycle,crane=TC\\ 1,gateway=gw,site=site-7 "
        'duration_s=100.0,max_load_t=3.25,max_moment_pct=81.5,id="cy-1",seq=5i 1700000000000'
    ]


def test_crane_cycle_without_crane_is_refused() -> None:
    out = encode_cycles([json.dumps({"id": "x", "start": "2023-11-14T22:13:20Z"})], [1], "s", {})
    assert out.lines == [] and out.rejected == 1
    assert "no 'crane'" in out.reasons[0]


def test_iso_to_ms_accepts_z_offsets_and_naive_utc() -> None:
    assert iso_to_ms("2023-11-14T22:13:20.123Z") == 1_700_000_000_123
    assert iso_to_ms("2023-11-15T06:13:20.123+08:00") == 1_700_000_000_123
    assert iso_to_ms("2023-11-14T22:13:20.123") == 1_700_000_000_123


def test_extra_tags_may_not_redefine_layout_tags() -> None:
    with pytest.raises(ValueError, match="site"):
        ReadingEncoder("s", CHANNELS, {"site": "other"})


# Tag values as a site's configuration might spell them; what each must read back as.
HOSTILE = [
    (ChannelMeta("tilt x,1=a", "dev 1", 'tilt "x"'), {"channel": "tilt x,1=a", "device": "dev 1"}),
    (ChannelMeta("塔吊-1号", "C:\\dev\\", "load"), {"channel": "塔吊-1号", "device": "C:/dev/"}),
    (ChannelMeta("two\nlines", "d", ""), {"channel": "two lines", "device": "d"}),
]


async def test_hostile_names_round_trip_through_victoria_metrics(victoria_metrics: VictoriaMetrics) -> None:
    encoder = ReadingEncoder("site 7", [meta for meta, _ in HOSTILE], {})
    lines, _, _ = readings(
        encoder,
        seq=[1, 2, 3],
        ts=[T0, T0 + 1, T0 + 2],
        channel=[0, 1, 2],
        value=[1.25, -2.5, 1e-9],
        quality=[0, 0, 0],
    )
    event = alarm_event(message='he said "stop"\nnow, \\ please=1', channel="tilt x,1=a")
    events = encode_events([event.to_json()], [4], "site 7", {})
    victoria_metrics.write([*lines, *events.lines])

    series = await victoria_metrics.wait_for_points_async('{__name__="reading_value"}', 3)
    got = {s["metric"]["channel"]: (s["metric"], s["values"], s["timestamps"]) for s in series}
    for (meta, expected), value, stamp in zip(
        HOSTILE, [1.25, -2.5, 1e-9], [1_700_000_000_000, 1_700_000_001_000, 1_700_000_002_000], strict=True
    ):
        labels, values, timestamps = got[expected["channel"]]
        assert labels["device"] == expected["device"]
        assert labels["site"] == "site 7"
        assert labels.get("quantity", "") == meta.quantity.replace("\n", " ")
        assert values == [value] and timestamps == [stamp]

    # The event line with the hostile message parsed whole: its numeric fields arrived.
    (grade,) = await victoria_metrics.wait_for_points_async('{__name__="alarm_event_grade"}', 1)
    assert grade["metric"]["channel"] == "tilt x,1=a"
    assert grade["values"] == [2] and grade["timestamps"] == [1_700_000_002_500]
    (event_value,) = victoria_metrics.export('{__name__="alarm_event_value"}')
    assert event_value["values"] == [17.5]
