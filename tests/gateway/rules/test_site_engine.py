"""The whole core built from a site file: every rule kind together, fed whole or in random batches."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gateway.config import parse_config
from gateway.site import Site
from gateway.vocab import ReadingBatch

SITE = """
site: {id: all}
devices:
  - {id: crane1, type: mqtt, channels: {load: {unit: t, range: [0, 20]}, radius: {unit: m, range: [0, 60]}}}
  - {id: anemo1, type: mqtt, channels: {wind_speed: {unit: m/s, range: [0, 60]}}}
  - {id: pit.P1, type: mqtt, channels: {disp_h: {unit: mm, range: [-100, 200]}}}
  - {id: pit.P2, type: mqtt, channels: {disp_h: {unit: mm, range: [-100, 200]}}}
rules:
  - {id: crane, type: crane, channels: [crane1.load], radius: crane1.radius,
     chart: [[2.5, 6.0], [13.0, 6.0], [30.0, 2.5], [50.0, 1.3]]}
  - {id: wind, type: wind, channels: [anemo1.wind_speed]}
  - {id: gusts, type: threshold, channels: [anemo1.wind_3s], upper: {yellow: 10.8, orange: 12},
     hysteresis: 0.5}
  - {id: lifting_in_wind, type: combined, all_of: [{channel: crane1.load, above: 0.5},
                                                   {channel: anemo1.wind_3s, above: 10.8}]}
  - {id: disp, type: threshold, channels: ["pit.*.disp_h"], upper: {yellow: 21, orange: 25.5, red: 30},
     hysteresis: 0.5, debounce: {count: 2, of: 3}}
  - {id: disp_cum, type: cumulative, channels: ["pit.*.disp_h"], upper: {yellow: 14, red: 20}}
  - {id: disp_rate, type: rate, channels: ["pit.*.disp_h"], window_s: 3600, per: hour,
     upper: {yellow: 2, orange: 3, red: 4}, min_samples: 10}
  - {id: q, type: quality, channels: ["pit.*.disp_h"], silent_s: 600, stuck_window_s: 1800,
     stuck_min_samples: 20, spike_k: 6, spike_window: 15, spike_min_jump: 5}
"""

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def site_readings(seed: int = 7) -> ReadingBatch:
    """Two hours: crane cycles and a gust front at 1 Hz, pits every 30 s creeping then jumping."""
    rng = np.random.default_rng(seed)
    site = Site(parse_config(SITE))
    col = site.index.column
    t = T0 + np.arange(0, 7200.0, 1.0)
    phase = (t - T0) % 240 / 240
    load = np.where((phase > 0.2) & (phase < 0.8), 5.5, 0.05) + rng.normal(0, 0.01, t.size)
    radius = np.where((phase > 0.2) & (phase < 0.8), 14.0 + 3 * np.sin((t - T0) / 900), 8.0)
    wind = 6 + 7 * np.exp(-((((t - T0) - 3000) / 200) ** 2)) + rng.normal(0, 0.5, t.size)
    tp = T0 + np.arange(0, 7200.0, 30.0)
    creep = np.where(tp - T0 < 4000, 8 + (tp - T0) / 1000, 12 + ((tp - T0 - 4000) / 500) ** 2)
    p1 = creep + rng.normal(0, 0.05, tp.size)
    p2 = 5 + rng.normal(0, 0.05, tp.size)
    p2[[20, 50, 90]] += 50.0  # spikes
    p2[120:] = p2[119]  # stuck from here on
    ts = np.concatenate([t, t, t, tp, tp])
    ch = np.concatenate(
        [np.full(t.size, col(c)) for c in ("crane1.load", "crane1.radius", "anemo1.wind_speed")]
        + [np.full(tp.size, col("pit.P1.disp_h")), np.full(tp.size, col("pit.P2.disp_h"))]
    )
    value = np.concatenate([load, radius, wind, p1, p2])
    order = np.argsort(ts, kind="stable")
    return ReadingBatch.from_lists(ts[order], ch[order].astype(np.int32), value[order], np.zeros(ts.size))


def events_of(batches: list[ReadingBatch]) -> list[tuple[object, ...]]:
    engine, book = Site(parse_config(SITE)).analytics()
    out = []
    for b in batches:
        result = engine.process(b.ts, b.channel, b.value, b.quality)
        out += book.apply(result.transitions)
    return [(e.ts, e.channel, e.rule, e.grade, e.state, e.value, e.limit) for e in out]


def split(batch: ReadingBatch, rng: np.random.Generator) -> list[ReadingBatch]:
    cuts = np.sort(rng.choice(np.arange(1, len(batch)), size=60, replace=False))
    edges = [0, *cuts.tolist(), len(batch)]
    return [
        ReadingBatch(batch.ts[a:b], batch.channel[a:b], batch.value[a:b], batch.quality[a:b])
        for a, b in itertools.pairwise(edges)
    ]


@pytest.fixture(scope="module")
def whole() -> list[tuple[object, ...]]:
    return events_of([site_readings()])


def test_every_kind_fires_on_the_synthetic_site(whole: list[tuple[object, ...]]) -> None:
    rules = {e[2] for e in whole}
    assert {"crane", "wind", "gusts", "lifting_in_wind", "disp", "disp_cum", "disp_rate"} <= rules
    assert {"q.spike", "q.stuck"} <= rules
    # The spikes on P2 are quality alarms only: never a value, cumulative or rate alarm.
    p2 = {e[2] for e in whole if e[1] == "pit.P2.disp_h"}
    assert p2 == {"q.spike", "q.stuck"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_batches_give_the_same_events(whole: list[tuple[object, ...]], seed: int) -> None:
    batches = split(site_readings(), np.random.default_rng(seed))
    got = events_of(batches)
    assert len(got) == len(whole)
    for a, b in zip(got, whole, strict=True):
        assert a[:5] == b[:5]
        assert a[5] == pytest.approx(b[5], rel=1e-9, abs=1e-9)
