"""Replay on several processes: the same alarms, field for field and in order, as one process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gateway.config import SiteConfig, load_config
from gateway.site import Site
from smartsite.cli import main
from smartsite.replay import parallel, replay
from smartsite.replay.parallel import ReplayWorkerError, _Pool
from smartsite.replay.partition import assign, channel_groups
from smartsite.replay.shares import Share, plan_shares

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "site.yaml"
T = 1_704_067_200.0
STEP = 10.0
TICKS = 1_500  # about 4 h at 10 s


@pytest.fixture(scope="module")
def site_config() -> SiteConfig:
    """The example site: a crane (load chart from a radius), an anemometer (wind means), lifting in
    wind combining both, formwork and pit sensors with quality, rate and trend rules."""
    return load_config(EXAMPLE)


def recording(seed: int = 7) -> list[tuple[float, str, float]]:
    """Every sensor of the example site, with alarms of every kind and the input's usual faults."""
    rng = np.random.default_rng(seed)
    i = np.arange(TICKS)
    series: dict[str, np.ndarray] = {
        "crane1.load": np.clip(3.0 + 3.5 * np.sin(i / 40.0) + rng.normal(0, 0.2, TICKS), 0, 12),
        "crane1.radius": 10 + 25 * (0.5 + 0.5 * np.sin(i / 90.0)),
        "anemo1.wind_speed": np.clip(9 + 6 * np.sin(i / 70.0) + rng.normal(0, 2.0, TICKS), 0, 50),
        "fw1.S1.settlement": np.maximum(0, (i - 600) * 0.012) + rng.normal(0, 0.05, TICKS),
        "fw1.S2.settlement": 1 + rng.normal(0, 0.05, TICKS),
        "fw1.S3.settlement": np.where(i % 300 < 250, 2.0, 2.0 + 4.0 * ((i % 300) - 250) / 50),
        "pit.P1.disp_h": 35 * np.sin(np.pi * i / 700) - 2 + rng.normal(0, 0.3, TICKS),
        "pit.P2.disp_h": 5 + 0.02 * i + rng.normal(0, 0.2, TICKS),
        "pit.P3.disp_h": 10 + rng.normal(0, 0.2, TICKS),
        # fw1.S4 is never heard from (silent from the first tick); pit.P4 goes quiet for a while.
        "pit.P4.disp_h": 4 + rng.normal(0, 0.2, TICKS),
    }
    rows: list[tuple[float, str, float]] = []
    for k in range(TICKS):
        for n, (channel, values) in enumerate(series.items()):
            if channel == "pit.P4.disp_h" and 400 <= k < 500:
                continue
            rows.append((T + STEP * k + 0.1 * n, channel, round(float(values[k]), 3)))
    # Faults: a spike, a value out of range, NaN, an unknown channel, readings out of order, and a
    # pit sensor whose clock jumps back (three readings in a row behind: a new time line).
    rows[2_000] = (rows[2_000][0], "pit.P3.disp_h", 60.0)
    rows[3_000] = (rows[3_000][0], "crane1.load", 500.0)
    rows[3_100] = (rows[3_100][0], "fw1.S2.settlement", float("nan"))
    rows.insert(4_000, (T + 5_000, "nobody.here", 1.0))
    rows.insert(5_000, (T + 10.0, "pit.P2.disp_h", 5.0))
    back = rows[9_000][0] - 3_600
    for j in range(3):
        rows.insert(9_001 + j, (back + j * STEP, "pit.P1.disp_h", 1.0 + j))
    return rows


def as_csv(rows: list[tuple[float, str, float]]) -> str:
    return "ts,channel,value\n" + "".join(f"{t!r},{c},{v!r}\n" for t, c, v in rows)


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def same_alarms(one: list[dict[str, Any]], many: list[dict[str, Any]]) -> None:
    """Every field equal, in order; ids are random per run, so alarms must group events alike."""
    assert len(one) == len(many)
    for a, b in zip(one, many, strict=True):
        assert {k: v for k, v in a.items() if k not in ("id", "alarm_id")} == {
            k: v for k, v in b.items() if k not in ("id", "alarm_id")
        }
    pairs = {(a["alarm_id"], b["alarm_id"]) for a, b in zip(one, many, strict=True)}
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


def test_partition_keeps_tied_channels_together(site_config: SiteConfig) -> None:
    site = Site(site_config)
    ids = site.index.ids
    groups = [{ids[c] for c in g} for g in channel_groups(site)]
    crane_wind = next(g for g in groups if "crane1.load" in g)
    # Crane ratios need load and radius; lifting in wind needs the load and the 3-s wind.
    assert {"crane1.radius", "crane1.load_ratio", "anemo1.wind_speed", "anemo1.wind_3s"} <= crane_wind
    assert {"pit.P1.disp_h"} in groups
    owner = assign(site, 2)
    assert set(owner.tolist()) == {0, 1}
    assert owner[site.index.column("anemo1.wind_2min")] == owner[site.index.column("crane1.radius")]
    assert set(assign(site, 50).tolist()) == set(range(len(groups)))  # never more than the groups


@pytest.mark.parametrize(("workers", "start"), [(2, "fork"), (3, "fork"), (2, "forkserver")])
def test_same_alarms_as_one_process(
    tmp_path: Path, site_config: SiteConfig, workers: int, start: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers forked from the parent (no other thread running) or from the fork server alike."""
    monkeypatch.setattr(parallel, "_single_threaded", lambda: start == "fork")
    started: list[str] = []
    context = parallel._context

    def spy() -> Any:
        ctx = context()
        started.append(ctx.get_start_method())
        return ctx

    monkeypatch.setattr(parallel, "_context", spy)
    path = tmp_path / "in.csv"
    path.write_text(as_csv(recording()), encoding="utf-8")
    # Small chunks: many cuts, rewinds and ticks at chunk boundaries.
    one = replay(site_config, path, tmp_path / "one.jsonl", chunk_bytes=16_384, progress=False)
    many = replay(
        site_config, path, tmp_path / "many.jsonl", chunk_bytes=16_384, progress=False, workers=workers
    )
    assert started == [start]
    single, on_cores = events(tmp_path / "one.jsonl"), events(tmp_path / "many.jsonl")
    rules = {e["rule"] for e in single}
    # The recording raises alarms of the rules that tie channels together, and quality alarms.
    assert {"crane_moment", "lifting_in_wind", "wind_levels", "wind_lifting"} <= rules
    assert any(r.startswith("sensors_alive.") for r in rules)
    assert any(e["channel"] == "fw1.S4.settlement" for e in single)  # silent from the first tick
    same_alarms(single, on_cores)
    assert many.rejected == one.rejected
    assert one.rejected["rewound"] == 1 and one.rejected["out_of_order"] >= 1
    assert (many.rows, many.readings, many.events, many.first_ts, many.last_ts) == (
        one.rows,
        one.readings,
        one.events,
        one.first_ts,
        one.last_ts,
    )
    assert many.kpis.to_dict() == one.kpis.to_dict()


def test_cli_workers_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "in.csv"
    path.write_text(as_csv(recording()[:6_000]), encoding="utf-8")
    args = ["replay", "--config", str(EXAMPLE), "--input", str(path)]
    assert main([*args, "--output", str(tmp_path / "one.jsonl"), "--workers", "1", "--quiet"]) == 0
    assert main([*args, "--output", str(tmp_path / "two.jsonl"), "--workers", "2"]) == 0
    same_alarms(events(tmp_path / "one.jsonl"), events(tmp_path / "two.jsonl"))
    assert "on 2 processes" in capsys.readouterr().err
    # Without --workers a small input replays on one process (starting workers would cost more).
    assert main([*args, "--output", str(tmp_path / "default.jsonl")]) == 0
    assert "processes" not in capsys.readouterr().err
    assert main([*args, "--output", str(tmp_path / "x.jsonl"), "--workers", "0"]) == 1
    assert "--workers" in capsys.readouterr().err


def two_shares(config: SiteConfig) -> list[Share]:
    site = Site(config)
    shares = plan_shares(site, assign(site, 2), 2)
    assert shares is not None
    return shares


def test_shares_are_the_site_cut_down(site_config: SiteConfig) -> None:
    site = Site(site_config)
    owner = assign(site, 2)
    shares = plan_shares(site, owner, 2)
    assert shares is not None
    for w, share in enumerate(shares):
        part = Site(share.config)
        assert set(part.index.ids) == {site.index.ids[c] for c in np.flatnonzero(owner == w)}
    n_bindings = len(site.analytics()[0].binding_channel)
    assert sorted(np.concatenate([s.to_global for s in shares]).tolist()) == list(range(n_bindings))


def test_a_failing_worker_stops_the_replay(site_config: SiteConfig) -> None:
    """A worker's error comes back with its traceback."""
    site = Site(site_config)
    owner = assign(site, 2)
    pool = _Pool(two_shares(site_config), owner)
    try:
        empty = (np.zeros(3), np.zeros(3, dtype=np.int32), np.zeros(3))
        pool.send(1, ("chunk", 0, [("not", "a", "part")], empty))
        with pytest.raises(ReplayWorkerError, match="replay worker 1 failed"):
            pool.get()
    finally:
        pool.close()


def test_a_dead_worker_is_noticed_not_waited_on(site_config: SiteConfig) -> None:
    pool = _Pool(two_shares(site_config), assign(Site(site_config), 2))
    try:
        pool.procs[0].kill()
        pool.procs[0].join(timeout=10)
        with pytest.raises(ReplayWorkerError, match="replay-worker-1 ended"):
            pool.get()
    finally:
        pool.close()


def test_a_site_of_one_group_replays_on_one_process(tmp_path: Path) -> None:
    from tests.smartsite.replay.conftest import SITE

    one_device = SiteConfig.model_validate(
        {**SITE, "devices": SITE["devices"][:1], "rules": SITE["rules"][:1]}
    )
    path = tmp_path / "in.csv"
    rows = [(T + 60 * i, "pit.P1.disp_h", float(i % 40)) for i in range(300)]
    path.write_text(as_csv(rows), encoding="utf-8")
    summary = replay(one_device, path, tmp_path / "out.jsonl", progress=False, workers=4)
    assert summary.workers == 1 and summary.events > 0
    assert "processes" not in "\n".join(summary.lines())
