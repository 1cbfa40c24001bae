"""Fleet replay on a two-worker Dask LocalCluster: the same alarms as replaying each site alone."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gateway.config import load_config
from smartsite.cli import main
from smartsite.replay import replay
from smartsite.replay.fleet import FleetError, find_runs, replay_fleet
from tests.smartsite.replay.conftest import SITE
from tests.smartsite.replay.test_parallel import EXAMPLE, as_csv, events, recording, same_alarms


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """Two workers in this process (no ports, no start-up of worker processes)."""
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0"
    ) as c:
        yield c.scheduler_address


def fleet(root: Path) -> Path:
    """Three recordings of two layouts: a folder per site, and files side by side."""
    for name, seed in (("tower-a", 1), ("tower-b", 2)):
        folder = root / name
        folder.mkdir(parents=True)
        text = EXAMPLE.read_text(encoding="utf-8").replace("  id: demo\n", f"  id: {name}\n", 1)
        (folder / "site.yaml").write_text(text, encoding="utf-8")
        (folder / "readings.csv").write_text(as_csv(recording(seed)[:12_000]), encoding="utf-8")
    (root / "small.yaml").write_text(yaml.safe_dump(SITE), encoding="utf-8")
    rows = [(1_704_067_200.0 + 60 * i, "pit.P1.disp_h", float(i % 40)) for i in range(600)]
    (root / "small.jsonl").write_text(
        "".join(json.dumps({"ts": t, "channel": c, "value": v}) + "\n" for t, c, v in rows), encoding="utf-8"
    )
    return root


def in_and_out(root: Path, out: Path) -> list[str]:
    """The fleet folder to replay and the folder for what comes out."""
    return ["--input", str(root), "--output", str(out)]


@pytest.mark.timeout(90)
def test_same_alarms_as_each_site_alone(tmp_path: Path, cluster: str) -> None:
    root = fleet(tmp_path / "fleet")
    runs = find_runs(str(root))
    assert [r.recording.name for r in runs] == ["small.jsonl", "readings.csv", "readings.csv"]
    results = replay_fleet(str(root), tmp_path / "out", cluster, progress=False)
    assert sorted(r.name for r in results) == sorted(r.name for r in runs)
    assert all(r.summary is not None for r in results)
    for run in runs:
        alone = tmp_path / f"{run.name}.alone.jsonl"
        summary = replay(load_config(run.site_file), run.recording, alone, progress=False)
        fleet_events = events(tmp_path / "out" / f"{run.name}.alarms.jsonl")
        assert fleet_events, run.name
        same_alarms(events(alone), fleet_events)
        row = next(r for r in csv.DictReader((tmp_path / "out" / "kpis.csv").open()) if r["name"] == run.name)
        assert row["status"] == "ok"
        assert int(row["events"]) == summary.events and int(row["alarms"]) == summary.kpis.alarms
        assert int(row["readings"]) == summary.readings


@pytest.mark.timeout(90)
def test_a_bad_recording_fails_alone(tmp_path: Path, cluster: str) -> None:
    root = fleet(tmp_path / "fleet")
    (root / "tower-b" / "readings.csv").write_text("time;sensor;reading\n1;2;3\n", encoding="utf-8")
    results = {r.name: r for r in replay_fleet(str(root), tmp_path / "out", cluster, progress=False)}
    assert results["tower-b"].summary is None and "CSV header" in results["tower-b"].error
    assert results["tower-a"].summary is not None
    rows = {r["name"]: r for r in csv.DictReader((tmp_path / "out" / "kpis.csv").open())}
    assert rows["tower-b"]["status"].startswith("failed: ") and rows["tower-a"]["status"] == "ok"
    assert not (tmp_path / "out" / "tower-b.alarms.jsonl").exists()


def test_layout_problems_are_reported(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match="no recordings"):
        find_runs(str(tmp_path))
    (tmp_path / "lonely.csv").write_text("ts,channel,value\n", encoding="utf-8")
    with pytest.raises(FleetError, match=r"no site file for 1 recording\(s\): .*lonely.csv"):
        find_runs(str(tmp_path))


def test_shared_site_ids_get_distinct_names(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(SITE), encoding="utf-8")
    for month in ("2024-01", "2024-02"):
        (tmp_path / f"{month}.csv").write_text("ts,channel,value\n", encoding="utf-8")
    assert [r.name for r in find_runs(str(tmp_path / "*.csv"))] == ["t-2024-01", "t-2024-02"]


@pytest.mark.timeout(120)
def test_cli_on_a_local_cluster_of_processes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--dask local``: a LocalCluster of worker processes on 127.0.0.1, started and stopped."""
    root = tmp_path / "fleet"
    root.mkdir()
    shutil.copy(EXAMPLE, root / "site.yaml")
    (root / "site.csv").write_text(as_csv(recording(3)[:3_000]), encoding="utf-8")
    args = ["replay", "--dask", "local", "--workers", "1", *in_and_out(root, tmp_path / "o")]
    assert main(args) == 0
    assert "fleet: 1/1 demo" in capsys.readouterr().err
    assert (tmp_path / "o" / "demo.alarms.jsonl").stat().st_size > 0
    assert main([*args[:-4], "--config", str(EXAMPLE), *args[-4:]]) == 1
    assert "--config is not used with --dask" in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_an_unreachable_scheduler_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from smartsite.replay import fleet as fleet_module

    root = fleet(tmp_path / "fleet")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(fleet_module, "CONNECT_TIMEOUT_S", 2.0)
    args = ["replay", "--dask", f"tcp://127.0.0.1:{port}", *in_and_out(root, tmp_path / "o")]
    assert main(args) == 1
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
