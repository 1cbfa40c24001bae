"""Quality screen and alarms: streaming equals batch equals an independent per-reading reference."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np
import pytest

from analytics import quality
from analytics.quality import BAD_RANGE, CHECKS, QualitySpec, QualityTable
from analytics.rounds import to_block
from analytics.table import TableResult
from tests.analytics.reference import random_cuts

BAD_COMM = 0x10

Change = tuple[int, int, str, float, int, int]  # rule, channel, check, ts, old, new


@dataclass
class Stream:
    ts: np.ndarray
    channel: np.ndarray
    value: np.ndarray
    quality: np.ndarray
    n_channels: int

    def __len__(self) -> int:
        return len(self.ts)


def random_stream(rng: np.random.Generator, n_channels: int, per_channel: int) -> Stream:
    """Noisy channels with gaps, frozen stretches, spikes, bad and out-of-range readings, NaNs."""
    ts, ch, val, q = [], [], [], []
    for c in range(n_channels):
        t = float(rng.uniform(0, 100))
        level = 0.0
        frozen = 0
        for _ in range(per_channel):
            t += float(rng.choice([10.0, 10.0, 10.0, 25.0, 130.0, 400.0], p=[0.5, 0.2, 0.1, 0.1, 0.07, 0.03]))
            level += float(rng.normal(0, 0.05))
            if frozen == 0 and rng.random() < 0.02:
                frozen = int(rng.integers(5, 40))
                held = round(level, 1)
            if frozen:
                frozen -= 1
                x = held + (float(rng.choice([0.0, 0.05])) if rng.random() < 0.3 else 0.0)
            else:
                x = level + float(rng.normal(0, 0.5))
            quality = 0
            r = rng.random()
            if r < 0.03:
                x += float(rng.choice([-50.0, 50.0]))  # a spike
            elif r < 0.05:
                quality = BAD_RANGE
                x = 1000.0
            elif r < 0.07:
                quality = BAD_COMM
                x = float("nan")
            elif r < 0.08:
                x = float("nan")  # good quality, yet not a number
            ts.append(t)
            ch.append(c)
            val.append(x)
            q.append(quality)
    order = np.argsort(np.array(ts), kind="stable")
    return Stream(
        np.array(ts)[order],
        np.array(ch, dtype=np.int32)[order],
        np.array(val)[order],
        np.array(q, dtype=np.uint8)[order],
        n_channels,
    )


def random_specs(rng: np.random.Generator, n_channels: int) -> list[QualitySpec]:
    specs = []
    for rule in range(int(rng.integers(1, 4))):
        chans = rng.choice(n_channels, size=int(rng.integers(1, n_channels + 1)), replace=False)
        specs.append(
            QualitySpec(
                rule=rule,
                channels=np.sort(chans).astype(np.int32),
                silent_s=float(rng.choice([120.0, 300.0])) if rng.random() < 0.8 else None,
                stuck_window_s=float(rng.choice([60.0, 150.0])) if rng.random() < 0.8 else None,
                stuck_min_samples=int(rng.integers(3, 8)),
                stuck_tolerance=float(rng.choice([0.0, 0.0, 0.1])),
                out_of_range=bool(rng.random() < 0.8),
                spike_k=float(rng.choice([4.0, 6.0])) if rng.random() < 0.8 else None,
                spike_window=int(rng.choice([5, 7, 10])),
                spike_min_jump=float(rng.choice([0.0, 2.0])),
                grade=int(rng.integers(1, 4)),
                spike_floor=rng.choice([0.0, 0.3, 2.0], size=len(chans)) if rng.random() < 0.5 else None,
            )
        )
    return specs


@dataclass
class Fed:
    changes: list[Change] = field(default_factory=list)
    usable: list[tuple[float, int]] = field(default_factory=list)  # (ts, channel) judged usable


def _record(table: QualityTable, res: TableResult, fed: Fed) -> None:
    for i in range(len(res)):
        row = int(res.row[i])
        fed.changes.append(
            (
                int(table.rule[row]),
                int(table.channel[row]),
                str(table.check_name[row]),
                float(res.ts[i]),
                int(res.old_grade[i]),
                int(res.new_grade[i]),
            )
        )


def feed(specs: list[QualitySpec], stream: Stream, cuts: list[tuple[int, int]], tick: bool = False) -> Fed:
    """Feed the stream cut into blocks; with ``tick``, tell the table the data clock between blocks
    (as a replay may, so channels that stop reporting are noticed without waiting for data)."""
    table = QualityTable(specs)
    fed = Fed()
    for a, b in cuts:
        if tick and a:
            _record(table, table.tick(float(stream.ts[a - 1])), fed)
        block = to_block(
            stream.ts[a:b], stream.channel[a:b], stream.value[a:b], stream.quality[a:b], stream.n_channels
        )
        table.screen.screen(block)
        res = table.evaluate(block)
        # A row's changes come in time order.
        for row in np.unique(res.row):
            assert np.all(np.diff(res.ts[res.row == row]) >= 0)
        _record(table, res, fed)
        k, c = np.nonzero(block.usable & np.isfinite(block.value))
        fed.usable += [(float(block.ts[i, j]), int(j)) for i, j in zip(k, c, strict=True)]
    if tick:
        _record(table, table.tick(float(stream.ts[-1])), fed)
    return fed


def reference(
    specs: list[QualitySpec], stream: Stream, clock: float | None = None, watch_from: float | None = None
) -> Fed:
    """Reading by reading, in plain Python, from the definitions in analytics.quality's docstring.

    With ``clock``, time is known to have reached it: silences still open then are raised too.
    ``watch_from`` is the first tick: from then on a channel that has not reported is watched."""
    fed = Fed()
    by_channel: dict[int, list[tuple[float, float, int]]] = {}
    for t, c, v, q in zip(stream.ts, stream.channel, stream.value, stream.quality, strict=True):
        by_channel.setdefault(int(c), []).append((float(t), float(v), int(q)))

    # The screen: a reading is rejected (held back) when any spike binding of its channel holds it.
    rejected: dict[int, list[bool]] = {}
    noticed: dict[tuple[int, int], list[bool]] = {}
    for spec in specs:
        floors = np.zeros(len(spec.channels)) if spec.spike_floor is None else spec.spike_floor
        for c, floor in zip(spec.channels.tolist(), np.asarray(floors).tolist(), strict=True):
            rows = by_channel.get(c, [])
            marks, notices = [], []
            history: list[float] = []
            alpha = 1.0 / (quality.LONG_RUN_WINDOWS * spec.spike_window)
            ew_dev = ew_weight = 0.0
            prev_cand, prev_side, prev_held = False, 0.0, False
            for _, v, q in rows:
                good = q < 0x10 and np.isfinite(v)
                held = notice = False
                if spec.spike_k is not None and good:
                    judged = len(history) >= spec.spike_window
                    cand, side, clipped = False, 0.0, 0.0
                    if judged:
                        window = history[-spec.spike_window :]
                        med = statistics.median(window)
                        mad = statistics.median([abs(w - med) for w in window])
                        base = max(1.4826 * mad, floor)
                        long_run = 1.2533 * ew_dev / ew_weight if ew_weight > 0 else 0.0
                        threshold = max(spec.spike_k * max(base, long_run), spec.spike_min_jump)
                        cand = abs(v - med) > threshold
                        side = float(np.sign(v - med)) if cand else 0.0
                        clipped = min(abs(v - med), spec.spike_k * base)
                    confirms = cand and prev_cand and side == prev_side
                    held = cand and not confirms
                    notice = prev_held and not confirms
                    ew_dev = (1 - alpha) * ew_dev + alpha * clipped
                    ew_weight = (1 - alpha) * ew_weight + alpha * judged
                    prev_cand, prev_side, prev_held = cand, side, held
                if good:
                    history.append(v)
                marks.append(held)
                notices.append(notice)
            if spec.spike_k is not None:
                noticed[(spec.rule, c)] = notices
                prev = rejected.setdefault(c, [False] * len(rows))
                rejected[c] = [a or b for a, b in zip(prev, marks, strict=True)]

    def usable(c: int, i: int) -> bool:
        _, v, q = by_channel[c][i]
        return q < 0x10 and bool(np.isfinite(v)) and not rejected.get(c, [False] * (i + 1))[i]

    for c, rows in by_channel.items():
        fed.usable += [(rows[i][0], c) for i in range(len(rows)) if usable(c, i)]

    for spec in specs:
        g = spec.grade
        for c in spec.channels.tolist():
            rows = by_channel.get(c, [])

            def emit(check: str, t: float, up: bool, c: int = c) -> None:
                fed.changes.append((spec.rule, c, check, t, 0 if up else g, g if up else 0))  # noqa: B023

            if spec.silent_s is not None:
                last = (
                    watch_from if watch_from is not None and (not rows or watch_from < rows[0][0]) else None
                )
                for t, v, q in rows:
                    if last is None:
                        last = t
                    if not q & BAD_COMM and np.isfinite(v):  # heard: a number, whatever its quality
                        if t - last > spec.silent_s:
                            emit("silent", last + spec.silent_s, True)
                            emit("silent", t, False)
                        last = t
                if clock is not None and last is not None and clock - last > spec.silent_s:
                    emit("silent", last + spec.silent_s, True)
            if spec.stuck_window_s is not None:
                count, start, lo, hi, raised = 0, 0.0, 0.0, 0.0, False
                for i, (t, v, _) in enumerate(rows):
                    if not usable(c, i):
                        continue
                    if count and max(hi, v) - min(lo, v) > spec.stuck_tolerance:
                        if raised:
                            emit("stuck", t, False)
                            raised = False
                        count = 0
                    if count == 0:
                        count, start, lo, hi = 1, t, v, v
                    else:
                        count, lo, hi = count + 1, min(lo, v), max(hi, v)
                    if not raised and count >= spec.stuck_min_samples and t - start >= spec.stuck_window_s:
                        emit("stuck", t, True)
                        raised = True
            if spec.out_of_range:
                raised = False
                for t, v, q in rows:
                    if q & BAD_RANGE and not raised:
                        emit("out_of_range", t, True)
                        raised = True
                    elif raised and not q & BAD_RANGE and not q & 0x20 and np.isfinite(v):
                        emit("out_of_range", t, False)
                        raised = False
            if spec.spike_k is not None:
                raised, since = False, 0
                for i, (t, _, _) in enumerate(rows):
                    if noticed[(spec.rule, c)][i]:
                        if not raised:
                            emit("spike", t, True)
                        raised, since = True, 0
                    elif usable(c, i):
                        since += 1
                        if raised and since >= spec.spike_window:
                            emit("spike", t, False)
                            raised = False
    return fed


def _same(a: Fed, b: Fed) -> None:
    assert sorted(a.changes) == sorted(b.changes)
    assert sorted(a.usable) == sorted(b.usable)


@pytest.mark.parametrize("chunk", [None, 7], ids=["whole-blocks", "tiny-chunks"])
@pytest.mark.parametrize("seed", range(10))
def test_streamed_equals_whole_equals_reference(
    seed: int, chunk: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if chunk is not None:  # work large blocks through in slices, as big replays do
        monkeypatch.setattr(quality, "_CHUNK_ELEMENTS", chunk)
    rng = np.random.default_rng(seed)
    n_channels = int(rng.integers(1, 6))
    stream = random_stream(rng, n_channels, per_channel=int(rng.integers(100, 400)))
    specs = random_specs(rng, n_channels)

    expected = reference(specs, stream)
    whole = feed(specs, stream, [(0, len(stream))])
    small = feed(specs, stream, random_cuts(rng, len(stream), max_batch=7))
    large = feed(specs, stream, random_cuts(rng, len(stream), max_batch=300))
    cuts = random_cuts(rng, len(stream), max_batch=20)
    ticked = feed(specs, stream, cuts, tick=True)
    first_tick = float(stream.ts[cuts[1][0] - 1]) if len(cuts) > 1 else float(stream.ts[-1])

    _same(whole, expected)
    _same(small, expected)
    _same(large, expected)
    _same(ticked, reference(specs, stream, clock=float(stream.ts[-1]), watch_from=first_tick))
    if seed < 3 and chunk is None:
        _same(feed(specs, stream, [(i, i + 1) for i in range(len(stream))]), expected)
    # The streams are rich enough to exercise every check.
    seen = {check for _, _, check, *_ in expected.changes}
    assert seen, "no quality change at all"


def test_every_check_fires_somewhere() -> None:
    fired: set[str] = set()
    for seed in range(10):
        rng = np.random.default_rng(seed)
        n_channels = int(rng.integers(1, 6))
        stream = random_stream(rng, n_channels, per_channel=int(rng.integers(100, 400)))
        fired |= {check for _, _, check, *_ in reference(random_specs(rng, n_channels), stream).changes}
    assert fired == set(CHECKS)
