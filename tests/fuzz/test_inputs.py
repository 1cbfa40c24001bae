"""Fuzzing the gateway's doors (hypothesis, bounded): whatever comes in, a clear outcome, never a crash.

The MQTT payload decoder and mapping, the site-file loader and the replay readers each get
arbitrary bytes and structured-but-hostile documents. Properties: no exception but the documented
one; every reading let through is finite in time, inside the device-time rules, on a declared
column; every rejection is counted.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analytics.channel_index import ChannelIndex
from drivers.device_time import TimePolicy
from drivers.mqtt_payload import DeviceBinding, PayloadLayout, decode_payload
from gateway.config import parse_config
from gateway.vocab import ConfigError
from smartsite.replay.readers import ReadingReader, ReplayInputError

# Bounded: CI runs every property with these few examples in a few seconds each.
BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TZ = ZoneInfo("Asia/Shanghai")
ARRIVAL = datetime(2026, 12, 2, 8, 0, tzinfo=UTC).timestamp()
POLICY = TimePolicy()
CONTRACT = DeviceBinding("pit1", {"disp": 0, "temp": 1}, time=POLICY)
VENDOR = DeviceBinding(
    "dtu7",
    {"ws": 2, "wd": 3},
    layout=PayloadLayout(values={"ws": "$.s.w.speed", "wd": "$.s.w.dir"}, ts="$.time", readings="$.data[*]"),
    time=POLICY,
)

# JSON of every shape, with the numbers and stamps that hurt: huge, tiny, NaN-like, negative, ms, µs.
NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [0, -1, 253402300800, 253402300800000, 1e309 / 1e309 if False else 1e308, ARRIVAL, ARRIVAL * 1000]
    ),
)
STAMPS = st.one_of(
    NUMBERS,
    st.floats(min_value=ARRIVAL - 30 * 86400, max_value=ARRIVAL + 3600),
    st.text(max_size=40),
    st.sampled_from(["2026-12-02T16:00:00+08:00", "2026-12-02T08:00:00", "9999-12-31T23:59:59-14:00", "now"]),
    st.none(),
)
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


def _check_decoded(binding: DeviceBinding, payload: bytes) -> None:
    out = decode_payload(payload, binding, ARRIVAL, TZ)
    n = len(out.ts)
    assert len(out.channel) == len(out.value) == len(out.quality) == n
    if out.malformed is not None:
        assert n == 0 and out.malformed
    for ts, column in zip(out.ts, out.channel, strict=True):
        assert math.isfinite(ts)
        assert ARRIVAL - POLICY.max_age_s <= ts <= ARRIVAL + POLICY.tolerance_s
        assert column in binding.columns.values()
    assert all(isinstance(count, int) and count > 0 for count in out.problems.values())


@BOUNDED
@given(st.binary(max_size=400))
def test_payload_decoder_on_any_bytes(payload: bytes) -> None:
    _check_decoded(CONTRACT, payload)
    _check_decoded(VENDOR, payload)


@BOUNDED
@given(ts=STAMPS, values=st.dictionaries(st.sampled_from(["disp", "temp", "x", ""]), JSON, max_size=4))
def test_payload_decoder_on_hostile_contract_documents(ts: Any, values: dict[str, Any]) -> None:
    _check_decoded(CONTRACT, json.dumps({"ts": ts, "values": values}).encode())


@BOUNDED
@given(st.lists(st.fixed_dictionaries({"time": STAMPS, "s": JSON}), max_size=6))
def test_payload_mapping_on_hostile_vendor_documents(readings: list[dict[str, Any]]) -> None:
    _check_decoded(VENDOR, json.dumps({"data": readings}).encode())


PROBLEM = re.compile(r"^.+?(:\d+)?: \S.*$|^\.\.\. and \d+ more problems like these$")
SITE_KEYS = st.sampled_from(["site", "devices", "rules", "sinks", "mqtt", "api", "alarms", "id", "type", "x"])
YAMLISH = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(SITE_KEYS, children, max_size=4),
    max_leaves=25,
)


def _check_config(text: str) -> None:
    try:
        parse_config(text, "site.yaml")
    except ConfigError as exc:
        assert exc.problems
        assert all(PROBLEM.match(line) for line in exc.problems), exc.problems


@BOUNDED
@given(st.text(max_size=300))
@example("\x1f")  # libyaml's message ran over two lines
def test_config_loader_on_any_text(text: str) -> None:
    _check_config(text)


@BOUNDED
@given(YAMLISH)
def test_config_loader_on_hostile_structures(document: Any) -> None:
    # JSON is YAML: a structure of the right keys with wrong shapes and values.
    _check_config(json.dumps(document))


@BOUNDED
@given(
    st.lists(
        st.fixed_dictionaries(
            {"ts": STAMPS, "channel": st.sampled_from(["pit.disp", "x", ""]), "value": JSON}
        ),
        max_size=8,
    )
)
def test_replay_reader_on_hostile_json_lines(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]]
) -> None:
    path = tmp_path_factory.mktemp("jsonl") / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    _check_reader(path)


@BOUNDED
@given(st.binary(min_size=1, max_size=400))
@example(b"\x80")  # not UTF-8: Arrow gave up on the whole piece and the reader crashed
def test_replay_reader_on_any_bytes(tmp_path_factory: pytest.TempPathFactory, raw: bytes) -> None:
    folder = tmp_path_factory.mktemp("raw")
    for name, body in (("in.csv", b"ts,channel,value\n" + raw), ("in.jsonl", raw)):
        path = folder / name
        path.write_bytes(body)
        _check_reader(path)


def _check_reader(path: Path) -> None:
    index = ChannelIndex(["pit.disp"])
    try:
        reader = ReadingReader(path, index, chunk_bytes=1024)
        chunks = list(reader)
    except ReplayInputError as exc:
        assert str(exc)
        return
    handed = sum(len(c) for c in chunks)
    assert handed == reader.stats.readings
    assert reader.stats.rows >= reader.stats.readings
    for chunk in chunks:
        assert all(math.isfinite(t) for t in chunk.ts.tolist())
        assert set(chunk.column.tolist()) <= {0}
