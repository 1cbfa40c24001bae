"""History of one channel from the local store: raw readings or time buckets."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from api.auth import Viewer
from api.deps import RuntimeDep
from drivers.store_history import (
    BucketPoint,
    NoStoreError,
    RawPoint,
    TooManyBucketsError,
    UnknownChannelError,
)
from gateway.vocab import Quality, iso_utc

log = logging.getLogger(__name__)

router = APIRouter(tags=["channels"])

DEFAULT_WINDOW_S = 3600.0
MIN_STEP_S = 0.001  # timestamps are shown to the millisecond; finer buckets would share a label
MAX_EPOCH_S = 253402300799.0  # 9999-12-31T23:59:59Z, the last time ISO 8601 can show

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
# Documented in the schema (not enforced by pydantic: parse_time and parse_step say what is wrong).
_SECONDS = r"^\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"
STEP_PATTERN = _SECONDS + r"|^(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ms|s|m|h|d))+$"
TIME_PATTERN = (
    _SECONDS + r"|^[0-9]{4}-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?"
    r"(Z|[+ -][0-1][0-9]:?[0-5][0-9])$"
)
ZERO_STEP_PATTERN = r"^[\s0.eE+-]*$|^(([0.]+)(ms|s|m|h|d))+$"  # a step of nothing at all
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# "+08:00" in an unencoded query string arrives as " 08:00": a form-encoded "+" means a space.
_SPACE_FOR_PLUS = re.compile(r"^(.*\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$")


def time_query(default: str) -> Any:
    """A time range's ``start`` or ``end`` query parameter; ``default``: what leaving it out means."""
    return Query(
        description=f"ISO 8601 with offset, or epoch seconds; default {default}",
        json_schema_extra={"pattern": TIME_PATTERN},
    )


def time_range(
    start: str | None, end: str | None, clock: Callable[[], float], window_s: float
) -> tuple[float, float]:
    """``[start, end)`` in epoch seconds: ``end`` now when left out, ``start`` ``window_s`` before
    ``end`` (not before 1970); 422 unless start is before end."""
    end_s = parse_time("end", end) if end is not None else clock()
    start_s = parse_time("start", start) if start is not None else max(0.0, end_s - window_s)
    if start_s >= end_s:
        raise _unprocessable(f"start ({iso_utc(start_s)}) must be before end ({iso_utc(end_s)})")
    return start_s, end_s


def _unprocessable(message: str) -> HTTPException:
    # 422 by number: Starlette renamed the constant (…_ENTITY → …_CONTENT) within our supported range.
    return HTTPException(422, message)


def parse_time(name: str, raw: str) -> float:
    """Epoch seconds from epoch seconds or ISO 8601 with a UTC offset (``Z`` or ``+08:00``)."""
    text = raw.strip()
    if _NUMBER.fullmatch(text):
        ts = float(text)
    else:
        repaired = _SPACE_FOR_PLUS.sub(r"\1+\2", text)
        try:
            moment = datetime.fromisoformat(repaired)
        except ValueError:
            raise _unprocessable(
                f"{name}: {raw[:60]!r} is neither ISO 8601 (e.g. 2024-05-01T08:00:00+08:00) nor epoch seconds"
            ) from None
        if moment.tzinfo is None:
            raise _unprocessable(f"{name}: {raw[:60]!r} has no UTC offset; add 'Z' or one like '+08:00'")
        ts = moment.timestamp()
    if not (math.isfinite(ts) and 0 <= ts <= MAX_EPOCH_S):
        raise _unprocessable(f"{name}: {raw[:60]!r} is not a time between 1970 and 9999")
    return ts


def parse_step(raw: str) -> float:
    """Seconds from a number (``60``, ``0.5``) or a duration (``30s``, ``5m``, ``1h30m``, ``1d``)."""
    text = raw.strip()
    if _NUMBER.fullmatch(text):
        seconds = float(text)
    else:
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise _unprocessable(
                f"step: {raw[:60]!r} is neither seconds nor a duration like 30s, 5m, 1h, 1h30m, 1d"
            )
        seconds = sum(float(n) * _UNIT_S[u] for n, u in parts)
    if not (math.isfinite(seconds) and seconds >= MIN_STEP_S):
        raise _unprocessable(f"step: {raw[:60]!r} must be at least {MIN_STEP_S:g} s")
    return seconds


def _point(point: BucketPoint | RawPoint, r: Callable[[float | None], float | None]) -> dict[str, Any]:
    """One point, its values rounded to the channel's resolution (``r``)."""
    if isinstance(point, RawPoint):
        return {"ts": iso_utc(point.ts), "value": r(point.value), "quality": Quality.describe(point.quality)}
    return {
        "ts": iso_utc(point.ts),
        "count": point.count,
        "bad": point.bad,
        "min": r(point.min),
        "max": r(point.max),
        "mean": r(point.mean),
        "last": r(point.last),
    }


@router.get("/channels/{channel_id}/history")
async def history(
    channel_id: str,
    runtime: RuntimeDep,
    _role: Viewer,
    start: Annotated[str | None, time_query("end - 1 h")] = None,
    end: Annotated[str | None, time_query("now")] = None,
    step: Annotated[
        str | None,
        Query(
            description="bucket width: seconds (60) or a duration (30s, 5m, 1h, 1d); omit for raw readings",
            # Documented, not enforced by pydantic: parse_step says what is wrong in words.
            json_schema_extra={"pattern": STEP_PATTERN, "not": {"pattern": ZERO_STEP_PATTERN}},
        ),
    ] = None,
) -> dict[str, Any]:
    """Readings with ``start <= ts < end``: raw (at most 5000, then ``truncated``) or in epoch-aligned
    buckets of ``step`` with count, bad, min, max, mean and last; empty buckets are left out."""
    start_s, end_s = time_range(start, end, runtime.clock, DEFAULT_WINDOW_S)
    step_s = parse_step(step) if step is not None else None
    try:
        result = await runtime.history(channel_id, start_s, end_s, step_s)
    except UnknownChannelError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except TooManyBucketsError as exc:
        raise _unprocessable(str(exc)) from None
    except RuntimeError as exc:
        # NoStoreError, or the store not open (the gateway starting or stopping): nothing to read now.
        if not isinstance(exc, NoStoreError):
            log.warning("history of %r: local store unavailable: %s", channel_id, exc)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, str(exc) or "local store unavailable"
        ) from None
    return {
        "channel": result.channel,
        "start": iso_utc(result.start),
        "end": iso_utc(result.end),
        "step": result.step,
        "points": [_point(p, partial(runtime.live.rounding.value, result.channel)) for p in result.points],
        "truncated": result.truncated,
    }
