"""The ``smartsite`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smartsite", description="construction-site safety gateway")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run a whole simulated site with the dashboard")
    demo.add_argument("--port", type=int, default=8080, help="dashboard/API port (default 8080)")
    demo.add_argument("--speed", type=float, default=1.0, help="time scale of the simulated site")
    demo.add_argument("--duration", type=float, default=None, help="stop by itself after S seconds")
    demo.add_argument("--config", type=Path, default=None, help="site file (default examples/site.yaml)")
    demo.add_argument("--data-dir", type=Path, default=None, help="keep the SQLite store here")

    run = sub.add_parser("run", help="run the gateway for a site file")
    run.add_argument("--config", type=Path, required=True)
    run.add_argument("--duration", type=float, default=None, help=argparse.SUPPRESS)

    check = sub.add_parser("check-config", help="validate a site file; exit 1 listing each problem")
    check.add_argument("config", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "check-config":
            return _check_config(args.config)
        if args.command == "run":
            return _run(args.config, args.duration)
        if args.command == "demo":
            return _demo(args)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 1
    return 2


def _check_config(path: Path) -> int:
    from gateway.config import load_config

    config = load_config(path)
    channels = sum(len(d.channels) for d in config.devices)
    print(
        f"{path}: ok (site {config.site.id}: {len(config.devices)} devices, "
        f"{channels} channels, {len(config.rules)} rules, {len(config.sinks)} sinks)"
    )
    return 0


def _run(path: Path, duration: float | None) -> int:
    from gateway.config import load_config
    from gateway.serve import serve

    config = load_config(path)
    return asyncio.run(serve(config, base_dir=path.resolve().parent, duration=duration))


def _demo(args: argparse.Namespace) -> int:
    from gateway.demo import EXAMPLE_SITE, run_demo

    if args.speed <= 0:
        print("--speed must be above 0", file=sys.stderr)
        return 1
    return asyncio.run(
        run_demo(
            port=args.port,
            speed=args.speed,
            duration=args.duration,
            config_path=args.config or EXAMPLE_SITE,
            data_dir=args.data_dir,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
