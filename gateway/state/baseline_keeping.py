"""Baselines of cumulative rules that are taken from the data, kept across restarts.

A cumulative rule judges the change since a baseline; ``baseline: first`` (and every channel a
per-channel mapping leaves out) takes it from the first good reading. The core keeps it in memory
(``ThresholdTable.baseline``); this module stores each one as soon as it is taken (in the alarm
store's file, ``drivers.baseline_store``), puts it back at start, so 7.2 mm of settlement since
installation still reads 7.2 mm after a restart, and lets an admin reset it (audited).
Baselines fixed in the site file are shown but never stored or reset: the file is their record.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics import Engine
from analytics.thresholds import ThresholdTable
from drivers import baseline_store
from drivers.alarm_store import AlarmStore
from drivers.baseline_store import StoredBaseline
from gateway.vocab import GatewayError, ReadingBatch, iso_utc

log = logging.getLogger(__name__)

SYSTEM = "system"
SAVE_RETRY_S = 2.0


class BaselineNotFoundError(GatewayError, LookupError):
    def __init__(self, rule: str, channel: str) -> None:
        self.rule, self.channel = rule, channel
        super().__init__(f"no cumulative rule {rule!r} on channel {channel!r}")


class BaselineFixedError(GatewayError, ValueError):
    def __init__(self, rule: str, channel: str) -> None:
        super().__init__(f"the baseline of {rule!r} on {channel!r} is fixed in the site file")


@dataclass(slots=True)
class _Row:
    table: ThresholdTable
    row: int  # the table's row
    column: int  # the engine's channel column
    rule: str
    channel: str
    unit: str
    fixed: bool  # given in the site file
    source: str | None = None  # first, set, config; None while waiting for a reading
    taken_ts: float | None = None  # data time of the reading it came from
    updated: float | None = None  # wall time it was stored or set
    reset_at: float | None = None  # an admin's reset, waiting for the first good reading after it


class Baselines:
    """Every cumulative (rule, channel) of the site; ``watch`` after each analytics pass."""

    def __init__(
        self,
        engine: Engine,
        names: Sequence[tuple[str, str, str]],
        store: AlarmStore,
        clock: Any,
    ) -> None:
        self.store = store
        self.clock = clock
        self.rows: list[_Row] = []
        offset = 0
        for judge in engine.judges:
            if isinstance(judge, ThresholdTable):
                for r in np.flatnonzero(judge.cumulative).tolist():
                    channel, rule, unit = names[offset + r]
                    fixed = not math.isnan(float(judge.baseline[r]))
                    self.rows.append(
                        _Row(
                            judge,
                            r,
                            int(judge.channel[r]),
                            rule,
                            channel,
                            unit,
                            fixed,
                            "config" if fixed else None,
                        )
                    )
            offset += len(judge.channel)
        self._by_key = {(r.rule, r.channel): r for r in self.rows}
        self._pending: list[tuple[StoredBaseline | None, dict[str, Any]]] = []
        self._wake = asyncio.Event()
        self._watching = any(r.source is None for r in self.rows)
        self.counts: Counter[str] = Counter()

    # Start

    async def restore(self) -> None:
        """Put the stored baselines back into the core; log what cannot be used."""
        loaded = await self.store.call(baseline_store.load)
        for stored in loaded.rows:
            key = (stored.rule, stored.channel)
            row = self._by_key.get(key)
            if row is None:
                self.counts["unknown"] += 1
                log.warning(
                    "stored baseline of rule %r on %r ignored: no such cumulative rule and channel in "
                    "the site file any more (the row is kept)",
                    stored.rule,
                    stored.channel,
                )
                continue
            if row.fixed:
                self.counts["fixed_in_config"] += 1
                log.info("stored baseline of %r on %r ignored: fixed in the site file", *key)
                continue
            if stored.value is None:  # reset before the restart, no reading since
                row.reset_at = row.updated = stored.updated
                self.counts["awaiting_reset"] += 1
                continue
            row.table.baseline[row.row] = stored.value
            row.source, row.taken_ts, row.updated = stored.source, stored.taken_ts, stored.updated
            self.counts["restored"] += 1
        for rule, channel in loaded.unreadable:
            self.counts["unreadable"] += 1
            known = (rule, channel) in self._by_key
            log.error(
                "stored baseline of rule %r on %r is damaged (not a number)%s",
                rule,
                channel,
                "; it is taken again from the first good reading (audited)" if known else "; ignored",
            )
            if known:
                self._pending.append(self._replaced_entry(rule, channel, "damaged row replaced"))

    def waiting(self) -> list[tuple[str, str, float]]:
        """(rule, channel, since) of the baselines still to be taken from the data: from the first
        good reading at or after ``since`` (a reset's time; else any)."""
        return [
            (r.rule, r.channel, -math.inf if r.reset_at is None else r.reset_at)
            for r in self.rows
            if r.source is None
        ]

    def take_first_stored(self, rule: str, channel: str, ts: float, value: float) -> None:
        """A baseline still to be taken, from the first good reading in the local store that may
        give it (its readings may predate the stored baselines: an upgrade, or a lost row)."""
        row = self._by_key[(rule, channel)]
        if row.source is not None or not math.isfinite(value):
            return
        row.table.baseline[row.row] = value
        self.counts["from_store"] += 1
        log.warning(
            "baseline of %r on %r taken from a stored reading (%s): %g", rule, channel, iso_utc(ts), value
        )
        self.watch(ReadingBatch.empty(), taken_ts={channel: ts})

    def discard_replayed(self) -> None:
        """A baseline the warm start's replay of the past took on its own (for a reset waiting for
        a newer reading) is not one: the next live reading takes it."""
        for row in self.rows:
            if row.source is None:
                row.table.baseline[row.row] = np.nan

    # Taken from the data

    def watch(self, batch: ReadingBatch, taken_ts: dict[str, float] | None = None) -> None:
        """Store every baseline the core took in the batch just judged."""
        if not self._watching:  # every baseline taken: nothing to look at
            return
        for row in self.rows:
            if row.source is not None:
                continue
            value = float(row.table.baseline[row.row])
            if math.isnan(value):
                continue
            ts = (taken_ts or {}).get(row.channel)
            if ts is None:
                ts = _first_ts(batch, row.column, value)
            row.source, row.taken_ts, row.updated, row.reset_at = "first", ts, self.clock(), None
            self.counts["taken"] += 1
            detail = {"value": value, "ts": ts}
            entry = _entry(row, self.clock(), SYSTEM, "taken", "first good reading", detail)
            self._pending.append((self._stored(row), entry))
        self._watching = any(r.source is None for r in self.rows)
        if self._pending:
            self._wake.set()

    async def run(self) -> None:
        """Store what was taken, promptly; a failing store is retried."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not await self.flush():
                await asyncio.sleep(SAVE_RETRY_S)
                self._wake.set()

    async def flush(self) -> bool:
        if not self._pending:
            return True
        pending, self._pending = self._pending, []
        rows = [p for p, _ in pending if p is not None]
        try:
            await self.store.call(baseline_store.save, rows, [a for _, a in pending])
        except Exception as exc:  # a locked or full disk: keep them and try again
            self._pending = pending + self._pending
            self.counts["save_failures"] += 1
            log.error("baselines not stored yet (%s); retrying", exc)
            return False
        return True

    # People

    async def reset(
        self, rule: str, channel: str, actor: str, reason: str, value: float | None = None
    ) -> dict[str, Any]:
        """Set a baseline (``value``) or let the next good reading take it again; audited."""
        row = self._by_key.get((rule, channel))
        if row is None:
            raise BaselineNotFoundError(rule, channel)
        if row.fixed:
            raise BaselineFixedError(rule, channel)
        old = {"value": _number(row.table.baseline[row.row]), "source": row.source, "taken_ts": row.taken_ts}
        now = self.clock()
        action = "set" if value is not None else "reset"
        entry = _entry(row, now, actor, action, reason, {"old": old, "value": value})
        if value is not None:
            row.table.baseline[row.row] = value
            row.source, row.taken_ts, row.updated, row.reset_at = "set", None, now, None
        else:
            row.table.baseline[row.row] = np.nan
            row.source, row.taken_ts, row.updated, row.reset_at = None, None, now, now
            self._watching = True
        await self.store.call(baseline_store.save, [self._stored(row)], [entry])
        self.counts["reset"] += 1
        log.warning("baseline of %r on %r %s by %s: %s", rule, channel, entry["action"], actor, reason)
        return self.view(row)

    async def find(self, rule: str, channel: str) -> dict[str, Any]:
        row = self._by_key.get((rule, channel))
        if row is None:
            raise BaselineNotFoundError(rule, channel)
        view = self.view(row)
        trail = await self.store.call(baseline_store.audit_trail, rule, channel)
        view["audit"] = [{**e, "ts": iso_utc(e["ts"])} for e in trail]
        return view

    def listing(self) -> list[dict[str, Any]]:
        return [self.view(r) for r in self.rows]

    def view(self, row: _Row) -> dict[str, Any]:
        return {
            "rule": row.rule,
            "channel": row.channel,
            "unit": row.unit,
            "value": _number(row.table.baseline[row.row]),
            "source": row.source,
            "taken_at": None if row.taken_ts is None else iso_utc(row.taken_ts),
            "updated_at": None if row.updated is None else iso_utc(row.updated),
            "resettable": not row.fixed,
        }

    def health(self) -> dict[str, int]:
        return {"rows": len(self.rows), **self.counts, "unsaved": len(self._pending)}

    def _stored(self, row: _Row) -> StoredBaseline:
        value = _number(row.table.baseline[row.row])
        source = row.source or (baseline_store.RESET if value is None else "first")
        return StoredBaseline(row.rule, row.channel, value, row.taken_ts, source, row.updated or 0.0)

    def _replaced_entry(self, rule: str, channel: str, note: str) -> tuple[None, dict[str, Any]]:
        row = self._by_key[(rule, channel)]
        return None, _entry(row, self.clock(), SYSTEM, "damaged", note, {})


def _first_ts(batch: ReadingBatch, column: int, value: float) -> float | None:
    """Data time of the reading the baseline was taken from (the first of that value)."""
    hit = np.flatnonzero((batch.channel == column) & (batch.value == value))
    return float(batch.ts[hit].min()) if len(hit) else None


def _number(value: float) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


def _entry(
    row: _Row, ts: float, actor: str, action: str, note: str, detail: dict[str, Any]
) -> dict[str, Any]:
    return {
        "rule": row.rule,
        "channel": row.channel,
        "ts": ts,
        "actor": actor,
        "action": action,
        "note": note,
        "detail": detail,
    }
