"""Decoding, table-driven: every type x word order x byte order x scale/offset x sentinel."""

from __future__ import annotations

import itertools
import math
import struct
from typing import Any

import pytest

from drivers.modbus import RegisterSpec, decode_bit, decode_registers, encode_value
from gateway.vocab import Quality


def spec_of(*args: Any, **kwargs: Any) -> RegisterSpec:
    """A register spec from plain strings (the table's values are checked by the dataclass's users)."""
    return RegisterSpec(*args, **kwargs)


# A value's bytes, most significant first, are named A, B, C, ...; each (word order, byte order)
# puts them on the wire as below (the usual ABCD / CDAB / BADC / DCBA names of 32-bit values).
WIRE = {
    2: {
        ("big", "big"): "AB CD",
        ("little", "big"): "CD AB",
        ("big", "little"): "BA DC",
        ("little", "little"): "DC BA",
    },
    4: {
        ("big", "big"): "AB CD EF GH",
        ("little", "big"): "GH EF CD AB",
        ("big", "little"): "BA DC FE HG",
        ("little", "little"): "HG FE DC BA",
    },
    1: {
        ("big", "big"): "AB",
        ("little", "big"): "AB",
        ("big", "little"): "BA",
        ("little", "little"): "BA",
    },
}

# type -> (struct format, raw values to try, a sentinel the device uses for "no value")
TYPES: dict[str, tuple[str, list[float], float]] = {
    "int16": (">h", [0, 1, -1, 12345, -32767], -32768),
    "uint16": (">H", [0, 1, 255, 40000, 65534], 65535),
    "int32": (">i", [0, -1, 123456789, -2_000_000_000], -2147483648),
    "uint32": (">I", [0, 1, 70000, 4_000_000_000], 0xFFFFFFFF),
    "float32": (">f", [0.0, 1.5, -273.25, 12.0625], -9999.0),
    "float64": (">d", [0.0, 1e-9, -123456.789, 6.02e23], -9999.0),
}
SCALES = [(1.0, 0.0), (0.1, 0.0), (0.01, -40.0), (10.0, 5.0)]
ORDERS = list(itertools.product(("big", "little"), ("big", "little")))


def wire_words(fmt: str, raw: float, word_order: str, byte_order: str) -> list[int]:
    data = struct.pack(fmt, raw)
    letters = dict(zip("ABCDEFGH", data, strict=False))
    words = []
    for pair in WIRE[len(data) // 2][(word_order, byte_order)].split():
        words.append(letters[pair[0]] << 8 | letters[pair[1]])
    return words


CASES = [
    (type_name, raw, word_order, byte_order, scale, offset)
    for type_name, (_, raws, _) in TYPES.items()
    for raw in raws
    for word_order, byte_order in ORDERS
    for scale, offset in SCALES
]


@pytest.mark.parametrize(("type_name", "raw", "word_order", "byte_order", "scale", "offset"), CASES)
def test_decodes_every_type_order_and_scale(
    type_name: str, raw: float, word_order: str, byte_order: str, scale: float, offset: float
) -> None:
    fmt, _, sentinel = TYPES[type_name]
    spec = spec_of(
        "q", 0, "holding", 0, type_name, word_order, byte_order, scale, offset, no_value=(sentinel,)
    )
    words = wire_words(fmt, raw, word_order, byte_order)
    assert len(words) == spec.count
    value, quality = decode_registers(words, spec)
    expected = struct.unpack(fmt, struct.pack(fmt, raw))[0] * scale + offset
    assert quality == Quality.GOOD
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert encode_value(raw, spec) == words


@pytest.mark.parametrize(
    ("type_name", "word_order", "byte_order"), [(t, w, b) for t in TYPES for w, b in ORDERS]
)
def test_sentinel_is_nan_and_bad_value(type_name: str, word_order: str, byte_order: str) -> None:
    fmt, _, sentinel = TYPES[type_name]
    spec = spec_of("q", 0, "holding", 0, type_name, word_order, byte_order, 0.1, 3.0, no_value=(sentinel, 42))
    for raw in (sentinel, 42):
        value, quality = decode_registers(wire_words(fmt, raw, word_order, byte_order), spec)
        assert math.isnan(value)
        assert quality == Quality.BAD_VALUE


@pytest.mark.parametrize("type_name", ["float32", "float64"])
@pytest.mark.parametrize("raw", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_bad_values(type_name: str, raw: float) -> None:
    fmt = TYPES[type_name][0]
    spec = spec_of("q", 0, "input", 0, type_name)
    value, quality = decode_registers(wire_words(fmt, raw, "big", "big"), spec)
    assert math.isnan(value)
    assert quality == Quality.BAD_VALUE


def test_known_wire_vectors() -> None:
    """Literal frames as device manuals print them."""
    f32 = spec_of("q", 0, "holding", 0, "float32")
    assert decode_registers([0x3F80, 0x0000], f32) == (1.0, Quality.GOOD)
    cdab = spec_of("q", 0, "holding", 0, "float32", word_order="little")
    assert decode_registers([0x0000, 0x3F80], cdab) == (1.0, Quality.GOOD)
    i32 = spec_of("q", 0, "holding", 0, "int32")
    assert decode_registers([0xFFFF, 0xFFFE], i32) == (-2.0, Quality.GOOD)
    wind = spec_of("q", 0, "holding", 0, "uint16", scale=0.1)
    assert decode_registers([123], wind) == pytest.approx((12.3, Quality.GOOD))
    swapped = spec_of("q", 0, "holding", 0, "uint16", byte_order="little")
    assert decode_registers([0x3412], swapped) == (0x1234, Quality.GOOD)


@pytest.mark.parametrize("function", ["coil", "discrete"])
def test_bits(function: str) -> None:
    spec = spec_of("q", 0, function, 5, "bool")
    assert decode_bit(True, spec) == (1.0, Quality.GOOD)
    assert decode_bit(False, spec) == (0.0, Quality.GOOD)
    assert spec.count == 1
    flagged = spec_of("q", 0, function, 5, "bool", no_value=(0.0,))
    assert math.isnan(decode_bit(False, flagged)[0])


def test_bool_in_a_register_is_nonzero() -> None:
    spec = spec_of("q", 0, "holding", 0, "bool")
    assert decode_registers([0], spec) == (0.0, Quality.GOOD)
    assert decode_registers([0x0100], spec) == (1.0, Quality.GOOD)


def test_wrong_word_count_is_refused() -> None:
    with pytest.raises(ValueError, match="2 registers"):
        decode_registers([1], spec_of("q", 0, "holding", 0, "int32"))
