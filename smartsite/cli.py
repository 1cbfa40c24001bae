"""The ``smartsite`` command."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.vocab import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smartsite", description="construction-site safety gateway")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run a whole simulated site with the dashboard")
    demo.add_argument("--port", type=int, default=8080, help="dashboard/API port (default 8080)")
    demo.add_argument("--speed", type=float, default=1.0, help="time scale of the simulated site")
    demo.add_argument("--duration", type=float, default=None, help="stop by itself after S seconds")
    demo.add_argument("--scenario", default="demo", help="a shipped scenario's name or file (default demo)")
    demo.add_argument("--config", type=Path, default=None, help="site file (default: the scenario's)")
    demo.add_argument("--data-dir", type=Path, default=None, help="keep the SQLite store here")

    run = sub.add_parser("run", help="run the gateway for a site file")
    run.add_argument("--config", type=Path, required=True)
    run.add_argument("--duration", type=float, default=None, help=argparse.SUPPRESS)

    check = sub.add_parser("check-config", help="validate a site file; exit 1 listing each problem")
    check.add_argument("config", type=Path)

    replay = sub.add_parser("replay", help="replay recorded readings through the site's rules")
    replay.add_argument("--config", type=Path, default=None, help="site file (not with --dask)")
    replay.add_argument(
        "--input",
        type=Path,
        required=True,
        help="CSV ts,channel,value or JSON lines (--dask: folder or glob)",
    )
    replay.add_argument(
        "--output", type=Path, required=True, help="alarm events, one JSON per line (--dask: a folder)"
    )
    replay.add_argument("--report", type=Path, default=None, metavar="DIR", help="write plots + index.html")
    replay.add_argument("--quiet", action="store_true", help="no progress and no summary on stderr")
    replay.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes sharing the channels (default: one per core from 128 MB of input)",
    )
    replay.add_argument(
        "--dask",
        default=None,
        metavar="SCHEDULER",
        help="replay many sites on a Dask cluster: its scheduler address, or 'local' (--workers processes)",
    )

    simulate = sub.add_parser("simulate", help="play a scenario's devices for a gateway elsewhere")
    simulate.add_argument("--config", type=Path, required=True, help="site file the devices are from")
    simulate.add_argument("--scenario", required=True, help="a shipped scenario's name or a scenario file")
    simulate.add_argument("--mqtt", default=None, metavar="URL", help="broker (default: the site file's)")
    simulate.add_argument(
        "--serial-dir", type=Path, default=None, metavar="DIR", help="serial buses as pty links DIR/<bus id>"
    )
    simulate.add_argument(
        "--speed", type=float, default=None, help="scenario seconds per second (default: its time_scale)"
    )

    evaluate = sub.add_parser("evaluate", help="run scenarios through a real gateway and score the alarms")
    evaluate.add_argument("--scenario", required=True, help="a scenario's name or file, or all")
    evaluate.add_argument(
        "--speed", type=float, default=None, help="time scale (default: as fast as possible)"
    )
    evaluate.add_argument("--json", action="store_true", help="print the scores as JSON")
    evaluate.add_argument(
        "--jobs", type=int, default=None, help="scenarios run at once (default: one per CPU core)"
    )

    backup = sub.add_parser("backup", help="consistent copy of the site's stores, while it runs")
    backup.add_argument("--config", type=Path, required=True, help="site file")
    backup.add_argument("dir", type=Path, help="new or empty folder for the copy")
    restore = sub.add_parser("restore", help="put a backup back (the gateway must be stopped)")
    restore.add_argument("--config", type=Path, required=True, help="site file")
    restore.add_argument("dir", type=Path, help="a folder written by smartsite backup")

    bench = sub.add_parser("bench", help="performance benchmark against a plain Python baseline")
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    bench.add_argument("--quick", action="store_true", help="small sizes (seconds, not minutes)")
    bench.add_argument("--only", action="append", default=None, help="run only this figure (repeatable)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # pydantic looks for plugins in every installed distribution's entry points when it builds the
    # first model (about 30 ms of the start); the gateway uses none. PYDANTIC_DISABLE_PLUGINS=""
    # (or a list of the plugins to leave out) in the environment brings them back.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP request to a push receiver is noise in a gateway's log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # pymodbus logs every timeout; the hub logs one line per failure and one per recovery.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    try:
        if args.command == "check-config":
            return _check_config(args.config)
        if args.command == "run":
            return _run(args.config, args.duration)
        if args.command == "demo":
            return _demo(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "bench":
            return _bench(args)
        if args.command == "simulate":
            return _simulate(args)
        if args.command == "evaluate":
            return _evaluate(args)
        if args.command in ("backup", "restore"):
            return _backup_or_restore(args)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        extra = EXTRA_OF_MODULE.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(
            f"{args.command}: needs {exc.name}, which `smartsite run` does without: "
            f"pip install 'smartsite-gateway[{extra}]'",
            file=sys.stderr,
        )
        return 1
    return 2


# The tools' packages, installed by extras (pyproject.toml), not with the gateway itself.
EXTRA_OF_MODULE = {"amqtt": "demo", "pyarrow": "replay", "matplotlib": "replay"}


def _check_config(path: Path) -> int:
    gc.disable()  # a short run that allocates mostly objects that live to its end (see _run)
    try:
        return _check(path)
    finally:
        gc.enable()


def _check(path: Path) -> int:
    from gateway.config import load_config
    from gateway.config.loader import config_warnings
    from gateway.site import Site

    config = load_config(path)
    site = Site(config)
    site.analytics()  # compiling the rules is part of the check
    for warning in config_warnings(path, config):
        print(warning, file=sys.stderr)
    sensors = sum(len(d.channels) for d in config.devices)
    computed = len(site.channels) - sensors
    print(
        f"{path}: ok (site {config.site.id}: {len(config.devices)} devices, "
        f"{sensors} channels (+{computed} computed), {len(config.rules)} rules, {len(config.sinks)} sinks)"
    )
    return 0


def _run(path: Path, duration: float | None) -> int:
    # Starting allocates about 150,000 objects that live as long as the process (modules, classes,
    # pydantic validators); the cyclic GC scanned them over and over, 0.2 s of the start. It stays
    # off until the gateway serves; then they are frozen (never scanned again, with the start's
    # little garbage, about a thousand objects) and it is back on.
    gc.disable()
    try:
        from gateway.config import load_config
        from smartsite.serve import serve

        config = load_config(path)
        return asyncio.run(
            serve(
                config,
                base_dir=path.resolve().parent,
                duration=duration,
                config_path=path,
                on_ready=_started,
            )
        )
    finally:
        gc.enable()


def _started(_runtime: object, _url: str) -> None:
    """The first time the gateway serves (again after each reload: then the GC is already on)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _demo(args: argparse.Namespace) -> int:
    from gateway.like_named import like_named
    from simulators.scenario import ScenarioError
    from smartsite.demo import run_demo

    if args.speed <= 0:
        print("--speed must be above 0", file=sys.stderr)
        return 1
    try:
        return asyncio.run(
            # port, speed, duration and data_dir are the options' own names
            like_named(run_demo, args, scenario_name=args.scenario, config_path=args.config)
        )
    except ScenarioError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 1


def _replay(args: argparse.Namespace) -> int:
    from gateway.config import load_config
    from smartsite.replay import ReplayInputError, replay
    from smartsite.replay.parallel import PARALLEL_BYTES, ReplayWorkerError, default_workers

    if args.workers is not None and args.workers < 1:
        print("replay: --workers must be 1 or more", file=sys.stderr)
        return 1
    workers = args.workers
    if workers is None:  # one per core where sharing pays for starting the processes
        small = args.dask is None and args.input.is_file() and args.input.stat().st_size < PARALLEL_BYTES
        workers = 1 if small else default_workers()
    if args.dask is not None:
        return _replay_fleet(args, workers)
    if args.config is None:
        print("replay: --config is required (or --dask for a fleet of sites)", file=sys.stderr)
        return 1
    config = load_config(args.config)
    try:
        summary = replay(
            config, args.input, args.output, report_dir=args.report, progress=not args.quiet, workers=workers
        )
    except (ReplayInputError, ReplayWorkerError) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        for line in summary.lines():
            print(line, file=sys.stderr)
        if args.report is not None:
            print(f"replay: report in {args.report / 'index.html'}", file=sys.stderr)
    return 0


def _replay_fleet(args: argparse.Namespace, workers: int) -> int:
    from smartsite.replay import ReplayInputError
    from smartsite.replay.fleet import replay_fleet

    if args.config is not None:
        print("replay: --config is not used with --dask (each recording has its site file)", file=sys.stderr)
        return 1
    try:
        results = replay_fleet(str(args.input), args.output, args.dask, workers, progress=not args.quiet)
    except ReplayInputError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 1
    return 1 if any(r.summary is None for r in results) else 0


def _backup_or_restore(args: argparse.Namespace) -> int:
    from gateway.config import load_config
    from smartsite.backup import BackupError, backup, restore

    config = load_config(args.config)
    base_dir = args.config.resolve().parent
    try:
        if args.command == "backup":
            manifest = backup(config, base_dir, args.dir)
            files = manifest["files"]
            assert isinstance(files, dict)
            for name, entry in files.items():
                print(f"{args.dir / entry['file']}: {name} store, {entry['bytes']} bytes")
        else:
            for path in restore(config, base_dir, args.dir):
                print(f"{path}: restored from {args.dir}")
    except BackupError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


def _bench(args: argparse.Namespace) -> int:
    from smartsite.bench import run_bench

    return run_bench(as_json=args.json, quick=args.quick, only=args.only)


def _simulate(args: argparse.Namespace) -> int:
    import signal

    from gateway.config import load_config
    from simulators.generate import readings
    from simulators.publish import simulate
    from simulators.scenario import ScenarioError, find_scenario, load_scenario

    config = load_config(args.config)
    try:
        scenario = load_scenario(find_scenario(args.scenario), site_config=config)
    except ScenarioError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 1
    speed = scenario.time_scale if args.speed is None else args.speed
    if speed < 0:
        print("--speed must be 0 (as fast as possible) or above", file=sys.stderr)
        return 1
    if args.serial_dir is not None:
        args.serial_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> int:
        task = asyncio.create_task(
            simulate(
                config,
                readings(scenario, config),
                speed=speed,
                mqtt_url=args.mqtt,
                serial_dir=args.serial_dir,
                announce=lambda line: print(f"simulate: {line}", flush=True),
            )
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            stats = await task
        except asyncio.CancelledError:
            print("simulate: stopped", file=sys.stderr)
            return 0
        except Exception as exc:  # a lost broker, a port in use: one line, not a traceback
            print(f"simulate: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        print(
            f"simulate: {scenario.name} done: {stats.frames} frames, {stats.mqtt.messages} MQTT messages, "
            f"{stats.modbus_frames} Modbus updates in {stats.wall_s:.1f} s",
            flush=True,
        )
        return 0

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:  # a second interrupt while stopping
        return 0


def _evaluate(args: argparse.Namespace) -> int:
    import math

    from simulators.scenario import ScenarioError
    from smartsite.evaluate import evaluate_many, format_table, report_json, scenario_names

    speed = math.inf if args.speed is None or args.speed == 0 else args.speed
    if speed < 0:
        print("--speed must be 0 (as fast as possible) or above", file=sys.stderr)
        return 1
    names: list[str | Path] = list(scenario_names()) if args.scenario == "all" else [args.scenario]
    if not names:
        print("evaluate: no shipped scenario", file=sys.stderr)
        return 1
    # The gateway's own log lines (a sink falling behind, ...) stay out of the report.
    if not args.verbose:
        logging.getLogger().setLevel(logging.ERROR)
    try:
        scores = evaluate_many(names, speed, jobs=args.jobs or os.cpu_count() or 1)
    except ScenarioError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 1
    print(report_json(scores) if args.json else format_table(scores))
    return 0 if all(s.ok for s in scores) else 1


if __name__ == "__main__":
    sys.exit(main())
