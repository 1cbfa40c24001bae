"""Fleet replay on Dask: many sites' recordings, one task per site, the same core as ``replay``.

Layout. ``--input`` names a folder or a glob of recordings (CSV ``ts,channel,value`` or JSON lines;
a folder means every ``*.csv``, ``*.jsonl`` and ``*.ndjson`` under it). Each recording's site file is
``<recording stem>.yaml`` (or ``.yml``) beside it, else ``site.yaml`` (or ``.yml``) in its folder::

    fleet/tower-a/site.yaml + fleet/tower-a/readings.csv      (a folder per site)
    fleet/tower-b.yaml      + fleet/tower-b.csv               (files side by side)

Each recording is one run, named after its site's id (``<site id>-<stem>`` when two recordings share
a site, then ``-2``, ``-3``). ``--output`` is a folder: ``<name>.alarms.jsonl`` per run and one
``kpis.csv``, a row per run with its counts and alarm KPIs (``status`` says when a run failed; the
others still finish).

Site files are read and checked here, on the client, and shipped with the task; the recordings are
read by the workers, so they must be at the same path on every worker (shared storage). The alarm
events come back to the client with the results: nothing is written on the workers.
"""

from __future__ import annotations

import csv
import glob
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from gateway.config import SiteConfig, load_config
from gateway.vocab import ConfigError
from smartsite.replay.readers import ReplayInputError
from smartsite.replay.summary import ReplaySummary

CONNECT_TIMEOUT_S = 30.0
RECORDING_SUFFIXES = (".csv", ".jsonl", ".ndjson")
SITE_SUFFIXES = (".yaml", ".yml")
KPI_COLUMNS = [
    "name",
    "site",
    "input",
    "status",
    "rows",
    "readings",
    "rejected",
    "events",
    "alarms",
    "hours",
    "alarms_per_hour",
    "peak_10min",
    "chattering_pairs",
    "standing_at_end",
    "standing_over_24h",
    "seconds",
]


class FleetError(ReplayInputError):
    """The fleet cannot be replayed at all: no recordings, a recording without a site file."""


@dataclass(frozen=True, slots=True)
class SiteRun:
    """One recording and its site, as the task gets it."""

    name: str
    config: SiteConfig
    site_file: Path
    recording: Path


@dataclass(slots=True)
class SiteResult:
    name: str
    site: str
    recording: str
    events: str = ""  # the alarm events, one JSON per line
    summary: ReplaySummary | None = None
    error: str = ""


def recordings(spec: str) -> list[Path]:
    """The recordings a folder or a glob names, sorted."""
    path = Path(spec)
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in RECORDING_SUFFIXES]
    elif path.is_file():
        found = [path]
    else:
        found = [Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file()]
        found = [p for p in found if p.suffix.lower() in RECORDING_SUFFIXES]
    return sorted(found)


def site_file_of(recording: Path) -> Path | None:
    for candidate in [recording.with_suffix(s) for s in SITE_SUFFIXES] + [
        recording.parent / f"site{s}" for s in SITE_SUFFIXES
    ]:
        if candidate.is_file():
            return candidate
    return None


def find_runs(spec: str) -> list[SiteRun]:
    """Every recording of ``spec`` with its site file, read and checked; FleetError lists what is
    missing, ConfigError what is wrong in a site file."""
    found = recordings(spec)
    if not found:
        raise FleetError(f"{spec}: no recordings (*.csv, *.jsonl, *.ndjson) found")
    missing = [r for r in found if site_file_of(r) is None]
    if missing:
        names = ", ".join(str(r) for r in missing[:5])
        raise FleetError(
            f"no site file for {len(missing)} recording(s): {names}; expected <recording stem>.yaml "
            "beside it or site.yaml in its folder"
        )
    pairs = [(r, site_file_of(r)) for r in found]
    configs: dict[Path, SiteConfig] = {}
    problems: list[str] = []
    for _, site_file in pairs:
        assert site_file is not None
        if site_file not in configs:
            try:
                configs[site_file] = load_config(site_file)
            except ConfigError as exc:
                problems += exc.problems
    if problems:
        raise ConfigError(problems)
    shared = Counter(configs[s].site.id for _, s in pairs if s is not None)
    taken: set[str] = set()
    runs: list[SiteRun] = []
    for recording, site_file in pairs:
        assert site_file is not None
        config = configs[site_file]
        base = config.site.id if shared[config.site.id] == 1 else f"{config.site.id}-{recording.stem}"
        name, k = base, 1
        while name in taken:
            k += 1
            name = f"{base}-{k}"
        taken.add(name)
        runs.append(SiteRun(name, config, site_file, recording))
    return runs


def replay_site(run: SiteRun) -> SiteResult:
    """The task: one recording through its site's rules, on one process (Dask runs the many)."""
    from smartsite.replay.run import replay

    result = SiteResult(run.name, run.config.site.id, str(run.recording))
    with tempfile.TemporaryDirectory(prefix="smartsite-fleet-") as tmp:
        out = Path(tmp) / "alarms.jsonl"
        try:
            result.summary = replay(run.config, run.recording, out, progress=False)
        except ReplayInputError as exc:
            result.error = str(exc)
            return result
        result.events = out.read_text(encoding="utf-8")
    return result


def kpi_row(result: SiteResult) -> dict[str, Any]:
    row: dict[str, Any] = {"name": result.name, "site": result.site, "input": result.recording}
    s = result.summary
    if s is None:
        return row | {"status": f"failed: {result.error}"}
    k = s.kpis
    return row | {
        "status": "ok",
        "rows": s.rows,
        "readings": s.readings,
        "rejected": sum(s.rejected.values()),
        "events": s.events,
        "alarms": k.alarms,
        "hours": round(k.hours, 3),
        "alarms_per_hour": round(k.alarms_per_hour, 3),
        "peak_10min": k.peak_10min,
        "chattering_pairs": k.chattering_pairs,
        "standing_at_end": k.standing_at_end,
        "standing_over_24h": k.standing_over_24h,
        "seconds": round(s.seconds, 3),
    }


def write_results(output_dir: Path, results: list[SiteResult]) -> Path:
    """Per-run alarm files and the KPI table (rows in name order); returns the table's path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    for result in results:
        if result.summary is not None:
            (output_dir / f"{result.name}.alarms.jsonl").write_text(result.events, encoding="utf-8")
    table = output_dir / "kpis.csv"
    with table.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=KPI_COLUMNS)
        writer.writeheader()
        for result in sorted(results, key=lambda r: r.name):
            writer.writerow(kpi_row(result))
    return table


def _client(scheduler: str, local_workers: int) -> tuple[Any, Callable[[], None]]:
    """A Dask client for an address, or for a LocalCluster of ``local_workers`` processes."""
    from dask.distributed import Client, LocalCluster

    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=local_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # the scheduler's web pages: this machine only, any free port
        )
        client = Client(cluster)

        def close_both() -> None:
            client.close()
            cluster.close()

        return client, close_both
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise FleetError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from exc
    return client, client.close


def replay_fleet(
    spec: str,
    output_dir: Path,
    scheduler: str,
    local_workers: int = 1,
    progress: bool = True,
    stream: TextIO | None = None,
) -> list[SiteResult]:
    """Replay every recording of ``spec`` on the Dask cluster at ``scheduler`` (``local``: a
    LocalCluster here), one task per recording; results written into ``output_dir``."""
    try:
        from dask.distributed import as_completed
    except ImportError as exc:  # the optional extra
        raise FleetError("fleet replay needs Dask: pip install 'smartsite-gateway[fleet]'") from exc

    stream = stream if stream is not None else sys.stderr
    runs = find_runs(spec)
    started = time.perf_counter()
    client, close = _client(scheduler, local_workers)
    results: list[SiteResult] = []
    try:
        if progress:
            stream.write(f"fleet: {len(runs)} recordings on {client.scheduler.address}\n")
        tag = uuid.uuid4().hex[:8]  # task keys unique on a cluster others may share
        futures = client.map(replay_site, runs, key=[f"replay-{r.name}-{tag}" for r in runs], pure=False)
        run_of = {future.key: run for future, run in zip(futures, runs, strict=True)}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as exc:  # a task that crashed: the run fails, the others go on
                run = run_of[future.key]
                result = SiteResult(run.name, run.config.site.id, str(run.recording), error=repr(exc))
            results.append(result)
            if progress:
                what = f"{result.summary.events:,} events" if result.summary else f"failed: {result.error}"
                stream.write(f"fleet: {len(results)}/{len(runs)} {result.name}: {what}\n")
                stream.flush()
    finally:
        close()
    table = write_results(output_dir, results)
    if progress:
        stream.write(
            f"fleet: {len(runs)} recordings in {time.perf_counter() - started:.1f} s; KPIs in {table}\n"
        )
    return results
