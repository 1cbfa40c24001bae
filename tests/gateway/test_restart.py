"""Restart in the middle: a gateway stopped and built again on the same stores behaves as one that ran on.

Each test feeds the same readings to an uninterrupted gateway and to one restarted part-way, and
compares what people would see: the alarm events (data time, grade, state) and the desk's records.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from gateway.config import parse_config
from gateway.vocab import AlarmEvent
from tests.gateway.restart_helpers import SETTLE, TILT, WALL, active_records, feed, rising_tilt, site, started

T0 = 1_800_000_000.0

Seen = list[tuple[float, str, int, str]]


def seen(events: list[AlarmEvent]) -> Seen:
    return [(e.ts, e.rule, e.grade, e.state) for e in events]


async def run_through(
    base: Path, ts: np.ndarray, channel: np.ndarray, value: np.ndarray, restart_at: list[int], store: bool
) -> tuple[list[AlarmEvent], list[dict[str, object]]]:
    """Feed readings 30 at a time (10 minutes of the three channels); stop and build the gateway
    again before each index in restart_at."""
    events: list[AlarmEvent] = []
    cuts = [0, *restart_at, len(ts)]
    resumed = []
    for lo, hi in itertools.pairwise(cuts):
        async with started(site(store), base) as runtime:
            resumed.append(runtime.health()["resumed"])
            for i in range(lo, hi, 30):
                j = min(i + 30, hi)
                events += await feed(runtime, ts[i:j], channel[i:j], value[i:j])
            for rule in ("settlement", "wall_limit", "tilt_rate"):
                assert len(active_records(runtime, rule)) <= 1, "never two active records of one rule"
    return events, resumed


def _three_channels() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tilt rising for 7 h; settlement and the wall cross their limits and come back meanwhile."""
    tilt_ts, tilt = rising_tilt(7, T0)
    n = len(tilt_ts)
    settle = 100.0 + np.interp(np.arange(n), [0, 120, 200, 300, n], [0.0, 7.2, 7.4, 0.3, 0.2])
    wall = np.interp(np.arange(n), [0, 100, 180, 260, n], [2.0, 12.0, 9.5, 3.0, 3.0])
    ts = np.repeat(tilt_ts, 3)
    channel = np.tile([TILT, SETTLE, WALL], n)
    value = np.column_stack([tilt, settle, wall]).ravel()
    return ts, channel, value


@pytest.mark.parametrize("store", [True, False], ids=["warm-start", "no-local-store"])
async def test_restarts_mid_trend_give_the_same_alarms(tmp_path: Path, store: bool) -> None:
    ts, channel, value = _three_channels()
    # Restarts: in the settlement's yellow, in the wall's hysteresis band, between yellow and orange tilt.
    cuts = [3 * 150, 3 * 200, 3 * 230]
    plain, _ = await run_through(tmp_path / "plain", ts, channel, value, [], store)
    restarted, resumed = await run_through(tmp_path / "restarted", ts, channel, value, cuts, store)

    assert {r for _, r, _, _ in seen(plain)} == {"settlement", "wall_limit", "tilt_rate"}
    if store:
        assert seen(restarted) == seen(plain)
        assert resumed[1]["readings"] > 0 and resumed[1]["alarms_continued"] == 2
    else:
        # Without readings to warm up from, the rate needs a window of live data after each restart:
        # its alarms come later, but never twice, and the others are exactly as without restarts.
        others = [s for s in seen(plain) if s[1] != "tilt_rate"]
        assert [s for s in seen(restarted) if s[1] != "tilt_rate"] == others
        raises = [s for s in seen(restarted) if s[1] == "tilt_rate" and s[3] == "raised"]
        assert len(raises) == 1
    # One record per episode: the events after a restart continue the record from before it.
    for rule in ("settlement", "wall_limit"):
        ids = {e.alarm_id for e in restarted if e.rule == rule}
        assert len(ids) == 1, rule
    assert [e.state for e in restarted if e.rule == "settlement"] == ["raised", "cleared"]


async def test_baseline_kept_and_active_alarm_continues_then_clears(tmp_path: Path) -> None:
    async with started(site(), tmp_path) as runtime:
        await feed(runtime, [T0], [SETTLE], [100.0])  # installation
        raised = await feed(runtime, [T0 + 3600], [SETTLE], [107.2])
        assert seen(raised) == [(T0 + 3600, "settlement", 1, "raised")]
        assert raised[0].value == pytest.approx(7.2)

    async with started(site(), tmp_path) as runtime:
        assert runtime.health()["baselines"]["restored"] == 1
        listed = runtime.baselines.listing()
        assert listed[0]["value"] == 100.0 and listed[0]["source"] == "first"
        assert listed[0]["taken_at"] == "2027-01-15T08:00:00.000Z"
        assert await feed(runtime, [T0 + 7200], [SETTLE], [107.3]) == []  # 7.3 mm: no second raise
        assert runtime.channels()[SETTLE]["grade"] == 1
        cleared = await feed(runtime, [T0 + 10800], [SETTLE], [100.4])
        assert seen(cleared) == [(T0 + 10800, "settlement", 0, "cleared")]
        assert cleared[0].alarm_id == raised[0].alarm_id
        record = runtime.desk.records[raised[0].alarm_id]
        assert not record.active and record.reopened == 0


async def test_cleared_while_stopped_clears_the_old_record_without_local_store(tmp_path: Path) -> None:
    async with started(site(store=False), tmp_path) as runtime:
        raised = await feed(runtime, [T0, T0 + 60], [WALL, WALL], [5.0, 21.0])
        assert [e.grade for e in raised] == [3]

    async with started(site(store=False), tmp_path) as runtime:
        assert runtime.health()["resumed"]["alarms_settling"] == 1
        assert runtime.channels()[WALL]["grade"] == 3  # the record's grade until the data speaks
        held = await feed(runtime, [T0 + 120], [WALL], [19.5])  # inside the red's hysteresis band
        assert held == []
        down = await feed(runtime, [T0 + 180], [WALL], [12.0])
        assert seen(down) == [(T0 + 180, "wall_limit", 1, "deescalated")]
        assert down[0].alarm_id == raised[0].alarm_id
        assert down[0].value == 12.0 and down[0].limit == 10.0
        gone = await feed(runtime, [T0 + 240], [WALL], [2.0])
        assert [(e.state, e.alarm_id) for e in gone] == [("cleared", raised[0].alarm_id)]
        assert active_records(runtime, "wall_limit") == []


async def test_two_active_records_of_one_rule_become_one(tmp_path: Path) -> None:
    async with started(site(), tmp_path) as runtime:
        first = (await feed(runtime, [T0], [WALL], [12.0]))[0]
    # What an older version left: a second active record of the same (channel, rule).
    with sqlite3.connect(tmp_path / "alarms.db") as db:
        (body,) = db.execute("SELECT body FROM alarms WHERE id = ?", (first.alarm_id,)).fetchone()
        db.execute(
            "INSERT INTO alarms(id, channel, rule, status, active, updated, body) VALUES (?,?,?,?,?,?,?)",
            ("older", first.channel, first.rule, "open", 1, 1.0, body.replace(first.alarm_id, "older")),
        )
    async with started(site(), tmp_path) as runtime:
        assert runtime.health()["resumed"]["duplicates_ended"] == 1
        assert active_records(runtime, "wall_limit") == [first.alarm_id]
        trail = await runtime.desk.audit_trail("older")
        assert trail[-1]["action"] == "superseded" and first.alarm_id in trail[-1]["note"]
        gone = await feed(runtime, [T0 + 60], [WALL], [1.0])
        assert [(e.state, e.alarm_id) for e in gone] == [("cleared", first.alarm_id)]


async def test_missing_damaged_and_unknown_baseline_rows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with started(site(), tmp_path) as runtime:
        await feed(runtime, [T0, T0 + 60], [SETTLE, SETTLE], [100.0, 101.0])
    with sqlite3.connect(tmp_path / "alarms.db") as db:
        db.execute("UPDATE baselines SET value = 'garbage'")
        db.execute(
            "INSERT INTO baselines(rule, channel, value, taken_ts, source, updated) VALUES (?,?,?,?,?,?)",
            ("settlement", "pit.gone", 3.0, T0, "first", T0),
        )
    caplog.set_level(logging.WARNING)
    async with started(site(), tmp_path) as runtime:
        health = runtime.health()["baselines"]
        assert health["unreadable"] == 1 and health["unknown"] == 1
        assert "damaged" in caplog.text and "pit.gone" in caplog.text
        # The damaged row is taken again from the data: here the first good reading still stored.
        assert health["from_store"] == 1
        assert runtime.baselines.listing()[0]["value"] == 100.0
        view = await runtime.baselines.find("settlement", "pit.settle")
        assert [a["action"] for a in view["audit"]] == ["taken", "damaged", "taken"]
    with sqlite3.connect(tmp_path / "alarms.db") as db:
        rows = dict(db.execute("SELECT channel, value FROM baselines"))
    assert rows == {"pit.settle": 100.0, "pit.gone": 3.0}  # the unknown one is kept, not judged


async def test_reset_takes_the_baseline_again_from_the_next_reading(tmp_path: Path) -> None:
    async with started(site(), tmp_path) as runtime:
        await feed(runtime, [T0, T0 + 60], [SETTLE, SETTLE], [100.0, 106.0])
        view = await runtime.baselines.reset("settlement", "pit.settle", "ops (admin)", "sensor re-mounted")
        assert view["value"] is None and view["source"] is None
        cleared = await feed(runtime, [T0 + 120], [SETTLE], [50.0])  # the new reference: 0 mm
        assert [e.state for e in cleared] == ["cleared"]
    async with started(site(), tmp_path) as runtime:
        assert runtime.baselines.listing()[0]["value"] == 50.0
        assert await feed(runtime, [T0 + 180], [SETTLE], [56.0]) != []  # 6 mm since the reset
        trail = (await runtime.baselines.find("settlement", "pit.settle"))["audit"]
        reset = next(a for a in trail if a["action"] == "reset")
        assert reset["actor"] == "ops (admin)" and reset["note"] == "sensor re-mounted"
        assert reset["detail"]["old"]["value"] == 100.0


async def test_a_reset_waits_for_a_newer_reading_across_a_restart(tmp_path: Path) -> None:
    async with started(site(), tmp_path) as runtime:
        await feed(runtime, [T0, T0 + 60], [SETTLE, SETTLE], [100.0, 106.0])
        runtime.clock = lambda: T0 + 90  # the admin's reset, after the readings above
        runtime.baselines.clock = runtime.clock
        await runtime.baselines.reset("settlement", "pit.settle", "ops (admin)", "sensor re-mounted")
    async with started(site(), tmp_path) as runtime:
        # Neither the first stored reading nor the replayed past is the new reference.
        assert runtime.health()["baselines"]["awaiting_reset"] == 1
        assert runtime.baselines.listing()[0]["value"] is None
        assert runtime.health()["resumed"]["readings"] >= 2
        events = await feed(runtime, [T0 + 120], [SETTLE], [50.0])
        assert [e.state for e in events] == ["cleared"]  # 0 mm since the reset: the yellow ends
        assert runtime.baselines.listing()[0]["value"] == 50.0
        assert runtime.baselines.listing()[0]["taken_at"] == "2027-01-15T08:02:00.000Z"


async def test_a_damaged_reading_store_does_not_keep_the_gateway_from_starting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with started(site(), tmp_path) as runtime:
        raised = await feed(runtime, [T0, T0 + 60], [WALL, WALL], [5.0, 12.0])
    with sqlite3.connect(tmp_path / "gw.db") as db:
        db.execute("UPDATE readings SET value = 'twelve' WHERE value = 12.0")
    async with started(site(), tmp_path) as runtime:
        resumed = runtime.health()["resumed"]
        assert resumed["readings"] == 0 and "ValueError" in resumed["warm_start_error"]
        assert "warm start from the local store failed" in caplog.text
        # The alarm still continues its record: the desk's grade is carried instead.
        assert resumed["alarms_continued"] == 1 and resumed["alarms_settling"] == 1
        gone = await feed(runtime, [T0 + 120], [WALL], [1.0])
        assert [(e.state, e.alarm_id) for e in gone] == [("cleared", raised[-1].alarm_id)]


WIND_SITE = """
site: {id: w1, timezone: Asia/Shanghai}
mqtt: {url: "mqtt://127.0.0.1:9"}
devices:
  - id: anemo1
    type: mqtt
    channels: {wind_speed: {unit: m/s, range: [0, 60]}}
rules:
  - {id: crane_wind, type: wind, channels: [anemo1.wind_speed], working_limit: 13.8}
sinks:
  - {type: sqlite, path: gw.db}
"""


def _gusty_wind(seconds: int) -> tuple[np.ndarray, np.ndarray]:
    """1 Hz wind, AR(1) turbulence (integral scale ~12 s) around a mean rising from 9 to 14 m/s."""
    rng = np.random.default_rng(11)
    phi = np.exp(-1.0 / 12.0)
    gust = np.zeros(seconds)
    shocks = rng.normal(0.0, 1.6 * np.sqrt(1 - phi**2), seconds)
    for i in range(1, seconds):
        gust[i] = phi * gust[i - 1] + shocks[i]
    mean = np.linspace(9.0, 14.0, seconds)
    return T0 + np.arange(seconds, dtype=float), np.clip(mean + gust, 0.0, 60.0)


async def test_wind_windows_are_warm_started(tmp_path: Path) -> None:
    ts, speed = _gusty_wind(40 * 60)
    cut = 25 * 60
    events: dict[str, list[AlarmEvent]] = {"plain": [], "restarted": []}
    views: dict[str, dict[str, object]] = {}
    for name, cuts in (("plain", [0, len(ts)]), ("restarted", [0, cut, len(ts)])):
        for lo, hi in itertools.pairwise(cuts):
            async with started(parse_config(WIND_SITE), tmp_path / name) as runtime:
                for i in range(lo, hi, 60):
                    j = min(i + 60, hi)
                    events[name] += await feed(runtime, ts[i:j], [0] * (j - i), speed[i:j])
                views[name] = {c["id"]: c["value"] for c in runtime.channels()}
                if lo:
                    assert runtime.health()["resumed"]["readings"] >= 600  # the 10-minute window
    assert seen(events["plain"]), "the gusty wind raised something"
    assert seen(events["restarted"]) == seen(events["plain"])
    assert views["restarted"]["anemo1.wind_10min"] == pytest.approx(views["plain"]["anemo1.wind_10min"])
    assert views["restarted"]["anemo1.gust"] == pytest.approx(views["plain"]["anemo1.gust"])
