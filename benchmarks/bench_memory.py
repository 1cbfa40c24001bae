"""Benchmark figure 'memory': the core against the plain baseline (see smartsite/bench).

Run: .venv/bin/python benchmarks/bench_memory.py [--quick] [--json]
"""

from __future__ import annotations

import sys

from smartsite.bench import run_bench

if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(run_bench(as_json="--json" in args, quick="--quick" in args, only=["memory"]))
