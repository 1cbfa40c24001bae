"""Benchmark figure 'pushes': raised alarm to the first push accepted by a local webhook.

Run: .venv/bin/python benchmarks/bench_pushes.py [--quick] [--json]
"""

from __future__ import annotations

import sys

from smartsite.bench import run_bench

if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(run_bench(as_json="--json" in args, quick="--quick" in args, only=["pushes"]))
