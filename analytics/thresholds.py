"""Graded thresholds (yellow/orange/red) on the value, upper and lower, with hysteresis.

State is one array per quantity over all (rule, channel) bindings of threshold rules. A grade rises
as soon as the value reaches a limit; it falls only once the value has left the limit by more than
the hysteresis band, so a value hovering at a limit does not flap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

GRADES = 3  # yellow, orange, red
_GRADE_NUMBERS = np.arange(1, GRADES + 1, dtype=np.int8)


@dataclass(frozen=True, slots=True)
class ThresholdSpec:
    """One threshold rule bound to some channels. Unset limits are NaN."""

    rule: int
    channels: npt.NDArray[np.int32]
    upper: tuple[float, float, float]
    lower: tuple[float, float, float]
    hysteresis: float


def graded(
    value: npt.NDArray[np.float64],
    limits: npt.NDArray[np.float64],
    old_grade: npt.NDArray[np.int8],
    hysteresis: npt.NDArray[np.float64],
    upward: bool,
) -> npt.NDArray[np.int8]:
    """New grades for values against (M, 3) limits; NaN limits never trigger.

    For ``upward`` limits a grade is reached when value >= limit and held while
    value >= limit - hysteresis; downward limits mirror that.
    """
    v = value[:, None]
    h = hysteresis[:, None]
    with np.errstate(invalid="ignore"):
        if upward:
            reached = v >= limits
            held = v >= limits - h
        else:
            reached = v <= limits
            held = v <= limits + h
    reached_grade = np.max(np.where(reached, _GRADE_NUMBERS, 0), axis=1).astype(np.int8)
    held_grade = np.max(np.where(held, _GRADE_NUMBERS, 0), axis=1).astype(np.int8)
    return np.maximum(reached_grade, np.minimum(old_grade, held_grade))


@dataclass(slots=True)
class ThresholdTransitions:
    binding: npt.NDArray[np.intp]
    old_grade: npt.NDArray[np.int8]
    new_grade: npt.NDArray[np.int8]
    limit: npt.NDArray[np.float64]
    upward: npt.NDArray[np.bool_]


class ThresholdTable:
    """All threshold bindings of a site, evaluated together."""

    def __init__(self, specs: list[ThresholdSpec]) -> None:
        counts = [len(s.channels) for s in specs]
        m = int(sum(counts))
        self.rule = np.repeat(np.array([s.rule for s in specs], dtype=np.int32), counts)
        self.channel = (
            np.concatenate([s.channels for s in specs]).astype(np.int32)
            if specs
            else np.zeros(0, dtype=np.int32)
        )
        self.upper = np.full((m, GRADES), np.nan)
        self.lower = np.full((m, GRADES), np.nan)
        self.hysteresis = np.zeros(m)
        row = 0
        for spec, count in zip(specs, counts, strict=True):
            self.upper[row : row + count] = spec.upper
            self.lower[row : row + count] = spec.lower
            self.hysteresis[row : row + count] = spec.hysteresis
            row += count
        self.grade_up = np.zeros(m, dtype=np.int8)
        self.grade_down = np.zeros(m, dtype=np.int8)
        # Lowest grade whose limit is set: the limit reported when an alarm clears.
        self._first_up = _first_set(self.upper)
        self._first_down = _first_set(self.lower)

    def __len__(self) -> int:
        return len(self.channel)

    @property
    def grade(self) -> npt.NDArray[np.int8]:
        return np.maximum(self.grade_up, self.grade_down)

    def evaluate(
        self,
        value_by_channel: npt.NDArray[np.float64],
        usable_by_channel: npt.NDArray[np.bool_],
    ) -> ThresholdTransitions:
        """Apply one round (at most one usable value per channel) and return grade changes."""
        rows = np.flatnonzero(usable_by_channel[self.channel])
        value = value_by_channel[self.channel[rows]]
        hyst = self.hysteresis[rows]
        old_up = self.grade_up[rows]
        old_down = self.grade_down[rows]
        new_up = graded(value, self.upper[rows], old_up, hyst, upward=True)
        new_down = graded(value, self.lower[rows], old_down, hyst, upward=False)
        self.grade_up[rows] = new_up
        self.grade_down[rows] = new_down
        old = np.maximum(old_up, old_down)
        new = np.maximum(new_up, new_down)
        changed = np.flatnonzero(old != new)
        rows_c = rows[changed]
        old_c, new_c = old[changed], new[changed]
        # The direction that explains the grade now, or the one that explained it before.
        upward = np.where(
            new_c > 0,
            new_up[changed] >= new_down[changed],
            old_up[changed] >= old_down[changed],
        )
        report_grade = np.where(
            new_c > 0, new_c, np.where(upward, self._first_up[rows_c], self._first_down[rows_c])
        )
        limits = np.where(upward[:, None], self.upper[rows_c], self.lower[rows_c])
        limit = np.take_along_axis(limits, (report_grade - 1).astype(np.intp)[:, None], 1)[:, 0]
        return ThresholdTransitions(rows_c, old_c, new_c, limit, upward)


def _first_set(limits: npt.NDArray[np.float64]) -> npt.NDArray[np.int8]:
    is_set = ~np.isnan(limits)
    first = np.argmax(is_set, axis=1) + 1
    return np.where(is_set.any(axis=1), first, 1).astype(np.int8)
