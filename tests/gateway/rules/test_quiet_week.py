"""A week of pure noise at 1 Hz against a full pit rule set: no alarm at all (issue acceptance)."""

from __future__ import annotations

import numpy as np

from gateway.config import parse_config
from gateway.site import Site

SITE = """
site: {id: quiet}
devices:
  - {id: pit.P1, type: mqtt, channels: {disp_h: {unit: mm, range: [-100, 100]}}}
rules:
  - {id: disp, type: threshold, channels: [pit.P1.disp_h], upper: {yellow: 7, orange: 8.5, red: 10},
     lower: {red: -10}, hysteresis: 0.5}
  - {id: disp_rate, type: rate, channels: [pit.P1.disp_h], window_s: 86400, per: day,
     upper: {yellow: 2, orange: 3, red: 4}, lower: {red: -4}, sustained_share: 0.7}
  - {id: disp_trend, type: time_to_limit, channels: [pit.P1.disp_h], window_s: 21600, limit: 10,
     horizons_s: {yellow: 172800, orange: 86400, red: 21600}}
  - {id: disp_accel, type: acceleration, channels: [pit.P1.disp_h], window_s: 21600, per: day, min_rate: 0.5}
  - {id: disp_q, type: quality, channels: [pit.P1.disp_h], silent_s: 600, stuck_window_s: 3600,
     spike_k: 6, spike_window: 31, spike_min_jump: 5}
"""


def test_a_week_of_noise_raises_nothing() -> None:
    engine, book = Site(parse_config(SITE)).analytics()
    rng = np.random.default_rng(2026)
    seconds = 7 * 86400
    t0 = 1_767_225_600.0
    events = []
    for start in range(0, seconds, 86400):  # a day per batch
        ts = t0 + np.arange(start, start + 86400, dtype=np.float64)
        value = rng.normal(0.0, 0.5, ts.size)
        result = engine.process(
            ts, np.zeros(ts.size, dtype=np.int32), value, np.zeros(ts.size, dtype=np.uint8)
        )
        events += book.apply(result.transitions)
    assert engine.state.readings[0] == seconds
    assert events == []
