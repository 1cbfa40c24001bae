"""Registers to values: data type, word and byte order, scale and offset, the "no value" sentinel.

Pure: words (or bits) in, a value and its quality out. A sentinel or a non-finite float becomes NaN
with ``BAD_VALUE``; the caller stamps the time and flags communication faults.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from drivers.modbus.spec import REGISTER_COUNT, RegisterSpec
from gateway.vocab import Quality

_FORMAT = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "float32": ">f",
    "float64": ">d",
}


def raw_bytes(words: Sequence[int], word_order: str, byte_order: str) -> bytes:
    """The value's bytes, most significant first, from words as the device sent them."""
    ordered = list(words) if word_order == "big" else list(reversed(words))
    out = bytearray()
    for word in ordered:
        high, low = (word >> 8) & 0xFF, word & 0xFF
        out += bytes((high, low)) if byte_order == "big" else bytes((low, high))
    return bytes(out)


def raw_value(words: Sequence[int], spec: RegisterSpec) -> float:
    """The number the device meant, before scale and offset."""
    if spec.type == "bool":
        return 1.0 if words[0] else 0.0
    need = REGISTER_COUNT[spec.type]
    if len(words) != need:
        raise ValueError(f"{spec.type} takes {need} registers, got {len(words)}")
    (number,) = struct.unpack(_FORMAT[spec.type], raw_bytes(words, spec.word_order, spec.byte_order))
    return float(number)


def finish(raw: float, spec: RegisterSpec) -> tuple[float, int]:
    """Sentinel and finiteness check, then scale and offset."""
    if not math.isfinite(raw) or raw in spec.no_value:
        return math.nan, Quality.BAD_VALUE
    value = raw * spec.scale + spec.offset
    if not math.isfinite(value):
        return math.nan, Quality.BAD_VALUE
    return value, Quality.GOOD


def decode_registers(words: Sequence[int], spec: RegisterSpec) -> tuple[float, int]:
    """A holding or input register value."""
    return finish(raw_value(words, spec), spec)


def decode_bit(bit: bool, spec: RegisterSpec) -> tuple[float, int]:
    """A coil or discrete input: 1.0 or 0.0 (scale and offset apply, as for any value)."""
    return finish(1.0 if bit else 0.0, spec)


def encode_value(raw: float, spec: RegisterSpec) -> list[int]:
    """Words a device would send for a raw value (for simulators and tests: the inverse of decoding)."""
    if spec.type == "bool":
        return [1 if raw else 0]
    fmt = _FORMAT[spec.type]
    number: float | int = raw if spec.type.startswith("float") else int(raw)
    data = struct.pack(fmt, number)
    words = []
    for i in range(0, len(data), 2):
        high, low = data[i], data[i + 1]
        words.append((high << 8 | low) if spec.byte_order == "big" else (low << 8 | high))
    return words if spec.word_order == "big" else list(reversed(words))
