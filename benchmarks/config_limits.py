"""Cost of `check-config` on pathological site files, against the two-pass pure-Python parse.

Each case runs in a fresh process (peak RSS is the process's own). The baseline is what the loader
did before the limits: ``yaml.compose`` and ``yaml.safe_load`` with the pure-Python loader, on the
same file. Prints one line per case and a JSON summary with --json.

    .venv/bin/python benchmarks/config_limits.py [--json]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CURRENT = """
import resource, sys, time
from gateway.config.loader import load_config
from gateway.vocab import ConfigError
start = time.perf_counter()
try:
    load_config(sys.argv[1]); outcome = "ok"
except ConfigError as exc:
    outcome = exc.problems[-1][-90:]
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(time.perf_counter() - start, peak_mb, outcome, sep="\\t")
"""

BASELINE = """
import resource, sys, time, yaml
text = open(sys.argv[1], encoding="utf-8").read()
start = time.perf_counter()
yaml.compose(text, Loader=yaml.SafeLoader); yaml.load(text, Loader=yaml.SafeLoader)
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(time.perf_counter() - start, peak_mb, "parsed", sep="\\t")
"""


def tiny_lists(size: int) -> str:
    head = "site:\n  id: s1\ndevices:\n"
    line = "  - [1, 2, x, {a: 3}]\n"
    return head + line * ((size - len(head)) // len(line))


def large_site(channels: int) -> str:
    rows = ["site: {id: big}", "devices:"]
    for d in range(channels // 10):
        rows.append(f"  - id: d{d}\n    type: mqtt\n    channels:")
        rows += [f"      c{c}: {{unit: mm, range: [-100, 100]}}" for c in range(10)]
    return "\n".join(rows) + "\n"


def run(script: str, path: Path) -> tuple[float, float, str]:
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    ).stdout.strip()
    seconds, rss, outcome = out.split("\t", 2)
    return float(seconds), float(rss), outcome


def main() -> None:
    cases = {
        "example site file": (ROOT / "examples" / "site.yaml").read_text(),
        "2,000-channel site (200 devices)": large_site(2000),
        "0.5 MB of tiny lists": tiny_lists(512 * 1024),
        "1 MB of tiny lists": tiny_lists(1024 * 1024 - 64),
        "4 MB of tiny lists": tiny_lists(4 * 1024 * 1024),
    }
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in cases.items():
            path = Path(tmp) / "site.yaml"
            path.write_text(text)
            seconds, rss, outcome = run(CURRENT, path)
            base_s, base_rss, _ = (
                run(BASELINE, path) if len(text) <= 1024 * 1024 else (float("nan"),) * 2 + ("",)
            )
            ratio = base_s / seconds if seconds > 0 else float("nan")
            figures.append(
                {"case": name, "bytes": len(text), "seconds": seconds, "peak_rss_mb": rss,
                 "baseline_seconds": base_s, "baseline_peak_rss_mb": base_rss, "ratio": ratio,
                 "outcome": outcome}
            )  # fmt: skip
            print(
                f"{name:34} {len(text) / 1e6:5.2f} MB  {seconds:6.2f} s {rss:6.0f} MB   "
                f"baseline {base_s:6.2f} s {base_rss:6.0f} MB   x{ratio:6.1f}   {outcome}"
            )
    if "--json" in sys.argv:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
