"""Benchmark figures 'modbus_throughput' and 'modbus_dead_slave': 16 slaves on one 9600-baud bus.

Run: .venv/bin/python benchmarks/bench_modbus.py [--quick] [--json] [--poller hub|plain]
     [--registers N] [--turnaround-ms T] [--baud B]

The bus is a pty pair joined by simulators/serial_relay.py (10 bit-times per byte) with
simulators/modbus_slaves.py serving the slaves; see smartsite/bench/modbus_bus.py for what is measured.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from typing import Any

from smartsite.bench.figures import Sizes
from smartsite.bench.modbus_bus import BusBench, modbus_dead_slave, modbus_throughput


def main(argv: list[str]) -> int:
    default = BusBench()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s and 5 s runs instead of 10 s and 20 s")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--poller", choices=["hub", "plain"], default="hub")
    parser.add_argument("--registers", type=int, default=default.registers)
    parser.add_argument("--turnaround-ms", type=float, default=default.turnaround_s * 1000)
    parser.add_argument("--baud", type=int, default=default.baud)
    parser.add_argument("--only", choices=["throughput", "dead_slave"])
    args = parser.parse_args(argv)
    bench = replace(
        BusBench.quick() if args.quick else BusBench(),
        poller=args.poller,
        registers=args.registers,
        turnaround_s=args.turnaround_ms / 1000,
        baud=args.baud,
    )
    sizes = Sizes.quick() if args.quick else Sizes()
    figures = []
    if args.only in (None, "throughput"):
        figures.append(modbus_throughput(sizes, set(), bench))
    if args.only in (None, "dead_slave"):
        figures.append(modbus_dead_slave(sizes, set(), bench))
    rows = [_clean(f.to_dict()) for f in figures]
    if args.json:
        print(json.dumps({"results": rows, "quick": args.quick}, indent=2))
        return 0
    for r in rows:
        print(f"{r['name']}: {r['value']} {r['unit']} (baseline {r['baseline']}, ratio {r['ratio']})")
        print(f"    target: {r['target']}")
        for key, value in r["detail"].items():
            print(f"    {key}: {value}")
    return 0


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
