"""The contract between the engine and its rule tables.

A rule table holds the (rule, channel) bindings of one kind of rule as rows of arrays, and its state
as one array per quantity over those rows. The engine hands it a ``Block``: a (K, N) grid over time
rank and channel, where column c holds channel c's next K readings in data-time order (a prefix of
the rows is present; the rest is padding). Streaming feeds small blocks (K is 1 for one reading per
channel per tick); replay feeds large ones, so each table vectorises over time AND channels, with
its state carried from one block to the next. The result must not depend on how the stream was cut.

Tables never read a clock: time comes with the data. ``tick(now)`` lets the runtime tell a table
the time when no data arrives at all (a silent sensor must still be noticed).

Order inside a block: screens (mark spikes unusable) → derivers (fill derived channels' columns,
e.g. wind means, crane ratios) → judges (every alarm rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]
IDX = npt.NDArray[np.intp]
_T = TypeVar("_T", bound=np.generic)

# Numbers a table may attach to each grade change for its message (crane: load, radius, rated load,
# both ratios; combined: each condition's value); NaN where unused. What each slot means is the
# table's own convention, told in its docstring.
DETAIL_SLOTS = 8


@dataclass(slots=True)
class Block:
    """Readings as a (K, N) grid: row k of column c is channel c's k-th reading of this block."""

    ts: F64  # (K, N) data time; NaN where absent
    value: F64  # (K, N); NaN where absent or not a number
    present: npt.NDArray[np.bool_]  # (K, N) a reading exists (any quality)
    usable: npt.NDArray[np.bool_]  # (K, N) ... and may be judged (good quality, not a spike)
    quality: npt.NDArray[np.uint8]  # (K, N) quality flags

    @property
    def rows(self) -> int:
        return int(self.ts.shape[0])


@dataclass(slots=True)
class TableResult:
    """Grade changes of a table's rows (local row numbers), each with its data time."""

    row: IDX
    old_grade: I8
    new_grade: I8
    ts: F64
    value: F64  # the judged quantity: value, rate, ratio, mean ...
    limit: F64  # the limit of the new grade (of the lowest grade on clearing); NaN if none
    upward: npt.NDArray[np.bool_]  # the limit was crossed from below (False: a lower limit)
    time_to_limit_s: F64  # NaN where the rule made no forecast
    failure_time: F64  # epoch seconds; NaN where none
    detail: F64  # (n, DETAIL_SLOTS) numbers for the message; NaN where unused

    @staticmethod
    def empty() -> TableResult:
        f = np.zeros(0)
        i8 = np.zeros(0, dtype=np.int8)
        return TableResult(
            np.zeros(0, dtype=np.intp), i8, i8.copy(), f, f.copy(), f.copy(),
            np.zeros(0, dtype=bool), f.copy(), f.copy(), np.zeros((0, DETAIL_SLOTS)),
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.row)

    @staticmethod
    def concat(parts: list[TableResult]) -> TableResult:
        if not parts:
            return TableResult.empty()
        if len(parts) == 1:
            return parts[0]
        return TableResult(
            *(np.concatenate([getattr(p, name) for p in parts]) for name in TableResult.__slots__)
        )

    def take(self, index: IDX) -> TableResult:
        return TableResult(*(getattr(self, name)[index] for name in TableResult.__slots__))


def columns(a: npt.NDArray[_T], cols: npt.NDArray[np.integer[Any]]) -> npt.NDArray[_T]:
    """``a[:, cols]`` of a (K, N) grid, for reading only: ``a`` itself, not a copy, when ``cols`` is
    every column in order (a table bound to every channel of its site)."""
    n = a.shape[1]
    # n distinct increasing numbers from 0 to n - 1 are 0, 1, ..., n - 1.
    if len(cols) == n and n and cols[0] == 0 and cols[-1] == n - 1 and bool((cols[1:] > cols[:-1]).all()):
        return a
    return a[:, cols]


def result(
    row: IDX,
    old_grade: I8,
    new_grade: I8,
    ts: F64,
    value: F64,
    limit: F64,
    upward: npt.NDArray[np.bool_] | None = None,
    time_to_limit_s: F64 | None = None,
    failure_time: F64 | None = None,
    detail: F64 | None = None,
) -> TableResult:
    """Build a TableResult from arrays of equal length (of changes only), filling the optionals.

    ``detail`` may have fewer than ``DETAIL_SLOTS`` columns (the rest are NaN) and no more.
    """
    n = len(row)
    full = np.full((n, DETAIL_SLOTS), np.nan)
    if detail is not None and n:
        given = np.asarray(detail, dtype=np.float64).reshape(n, -1)
        full[:, : given.shape[1]] = given[:, :DETAIL_SLOTS]
    return TableResult(
        row=np.asarray(row, dtype=np.intp),
        old_grade=np.asarray(old_grade, dtype=np.int8),
        new_grade=np.asarray(new_grade, dtype=np.int8),
        ts=np.asarray(ts, dtype=np.float64),
        value=np.asarray(value, dtype=np.float64),
        limit=np.asarray(limit, dtype=np.float64),
        upward=np.ones(n, dtype=bool) if upward is None else np.asarray(upward, dtype=bool),
        time_to_limit_s=np.full(n, np.nan) if time_to_limit_s is None else time_to_limit_s,
        failure_time=np.full(n, np.nan) if failure_time is None else failure_time,
        detail=full,
    )


class Judge(Protocol):
    """A table of alarm rule bindings."""

    channel: npt.NDArray[np.int32]  # (M,) the channel each row speaks about (the alarm's channel)
    rule: npt.NDArray[np.int32]  # (M,) the configured rule each row comes from

    @property
    def grade(self) -> I8: ...  # (M,) current grade

    def evaluate(self, block: Block) -> TableResult: ...

    def tick(self, now: float) -> TableResult: ...


class Screen(Protocol):
    """Runs first on a block: may clear ``block.usable`` for readings it rejects (spikes)."""

    def screen(self, block: Block) -> None: ...


class Deriver(Protocol):
    """Fills derived channels' columns of the block (ts, value, present, usable) from raw ones."""

    def derive(self, block: Block) -> None: ...
