"""Alarm KPIs (smartsite.replay.kpi) and the chattering count they share with the engine."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.chatter import ChatterCounter, chattering
from gateway.vocab import AlarmEvent, AlarmState
from smartsite.replay.kpi import alarm_kpis, kpis_of_events, kpis_of_intervals
from smartsite.replay.summary import AlarmInterval

H = 3600.0


def test_kpis_of_a_hand_made_day() -> None:
    changes = [
        # a: raised twice, once for 26 h (standing), then chattering: 3 changes in 40 s.
        (0.0, "a", 1), (26 * H, "a", 0),
        (26 * H + 100, "a", 2), (26 * H + 120, "a", 0), (26 * H + 140, "a", 1),
        # b: eleven raises within 10 minutes (a flood), each cleared 30 s later... except the last.
        *[(40 * H + 50.0 * i + dt, "b", g) for i in range(11) for dt, g in ((0.0, 3), (30.0, 0))][:-1],
        # c: raised once and still active at the end.
        (47 * H, "c", 2),
    ]  # fmt: skip
    ts = [c[0] for c in changes]
    k = alarm_kpis(ts, [c[1] for c in changes], ["r"] * len(changes), [c[2] for c in changes], 0.0, 48 * H)
    assert k.hours == 48.0
    assert k.alarms == 3 + 11 + 1
    assert k.alarms_per_hour == pytest.approx(15 / 48)
    assert (k.peak_10min, k.peak_10min_start) == (11, 40 * H)
    assert k.changes == len(changes)
    # a chatters (26h+100, +120, +140); b changes every 20-30 s: 3 changes within 60 s too.
    assert {p.channel for p in k.chattering} == {"a", "b"}
    assert k.chattering_pairs == 2
    assert [p.chattering_episodes for p in k.chattering] == [1, 1]
    # Active at the end: a (raised at 26h+140), b (last raise), c. Over 24 h: a's first episode.
    assert (k.standing_at_end, k.standing_over_24h) == (3, 1)
    assert [(p.channel, p.alarms) for p in k.top] == [("b", 11), ("a", 3), ("c", 1)]
    assert k.to_dict()["top"][0] == {
        "channel": "b", "rule": "r", "alarms": 11, "changes": 21, "chattering_episodes": 1,
    }  # fmt: skip
    assert any("15 raised in 48.0 h" in line for line in k.lines())


def test_no_changes_give_zero_kpis() -> None:
    k = alarm_kpis([], [], [], [], 0.0, H)
    assert (k.alarms, k.changes, k.peak_10min, k.peak_10min_start, k.chattering_pairs) == (0, 0, 0, None, 0)
    assert (k.standing_at_end, k.standing_over_24h, k.top) == (0, 0, [])
    assert kpis_of_events([], np.inf, -np.inf).alarms_per_hour == 0.0  # an empty replay has no span


def test_events_and_replay_intervals_give_the_same_kpis() -> None:
    rng = np.random.default_rng(3)
    events: list[AlarmEvent] = []
    alarms: dict[str, AlarmInterval] = {}
    for pair in range(5):
        t, grade, alarm = 0.0, 0, None
        for _ in range(60):
            t += float(rng.exponential(40.0))
            new = int(rng.integers(0, 4))
            if new == grade:
                continue
            state = AlarmState.of_transition(grade, new)
            if alarm is None:
                alarm = f"{pair}-{t}"
                alarms[alarm] = AlarmInterval(f"ch{pair}", "r", t, None, new)
            alarms[alarm].steps.append((t, new))
            events.append(AlarmEvent("s", t, f"ch{pair}", "r", new, state, None, None, "", "", alarm))
            grade = new
            if new == 0:
                alarms[alarm].end, alarm = t, None
    a = kpis_of_events(events, 0.0, 3 * H)
    b = kpis_of_intervals(alarms, 0.0, 3 * H)
    assert a == b and a.alarms > 10 and a.chattering_pairs > 0


@pytest.mark.parametrize("seed", range(4))
def test_streamed_chatter_count_equals_the_whole_record_in_any_cut(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 600
    ts = np.sort(rng.uniform(0, 5000, n))
    binding = rng.integers(0, 6, n)
    rising = rng.random(n) < 0.5
    whole = chattering(ts, binding, rising)
    assert 0 < whole.sum() < n
    counter = ChatterCounter(6)
    got = []
    cuts = np.sort(rng.choice(np.arange(1, n), 30, replace=False))
    for part in np.split(np.arange(n), cuts):
        got.append(counter.observe(ts[part], binding[part], rising[part]))
    np.testing.assert_array_equal(np.concatenate(got), whole)
    # Episodes: a chattering change after a change that did not chatter (per binding).
    for b in range(6):
        mine = whole[binding == b]
        starts = int((mine & ~np.r_[False, mine[:-1]]).sum())
        assert counter.episodes[b] == starts
        assert counter.chattering_changes[b] == int(mine.sum())


def test_three_changes_spread_over_more_than_a_minute_do_not_chatter() -> None:
    key = np.zeros(3, dtype=np.int64)
    in_out_in = np.array([True, False, True])
    assert not chattering(np.array([0.0, 30.0, 60.5]), key, in_out_in).any()
    assert chattering(np.array([0.0, 30.0, 60.0]), key, in_out_in).tolist() == [False, False, True]


def test_an_escalation_or_a_release_step_by_step_is_not_chattering() -> None:
    key = np.zeros(3, dtype=np.int64)
    t = np.array([0.0, 5.0, 10.0])
    assert not chattering(t, key, np.array([True, True, True])).any()  # yellow, orange, red
    assert not chattering(t, key, np.array([False, False, False])).any()
    assert chattering(t, key, np.array([False, True, True])).tolist() == [False, False, True]
    # Through the KPIs: 0 -> 1 -> 2 -> 3 in 10 s, cleared an hour later.
    k = alarm_kpis([0.0, 5.0, 10.0, H], ["c"] * 4, ["r"] * 4, [1, 2, 3, 0], 0.0, 2 * H)
    assert (k.alarms, k.chattering_pairs) == (1, 0)
