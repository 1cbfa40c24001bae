"""`smartsite run` and `check-config` need none of the tools' packages (demo broker, Arrow,
plotting) and no InfluxDB client unless an InfluxDB sink is configured; the analytics core starts
without scipy.signal and scipy.stats (about 0.8 s of imports), and a site without trend rules without
scipy at all."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support import project_root

TOOLS = ("amqtt", "pyarrow", "matplotlib", "influxdb_client", "aiohttp", "reactivex", "simulators", "polars")


def _imported_after(code: str, tmp_path: Path, names: tuple[str, ...] = TOOLS) -> set[str]:
    """Which of ``names`` (packages, or dotted modules) are imported after running ``code``."""
    script = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import sys
        loaded = set(sys.modules) | {{m.split(".")[0] for m in sys.modules}}
        print("imported:", *sorted(loaded & set({names!r})))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(project_root()), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (last,) = [line for line in done.stdout.splitlines() if line.startswith("imported:")]
    return set(last.split()[1:])


def test_check_config_and_a_built_runtime_import_no_tool(tmp_path: Path) -> None:
    site = project_root() / "examples" / "site.yaml"
    imported = _imported_after(
        f"""
        from pathlib import Path
        from smartsite.cli import main
        assert main(["check-config", {str(site)!r}]) == 0
        from gateway.config import load_config
        from gateway.runtime import Runtime
        from smartsite.serve import serve  # what `run` imports
        config = load_config(Path({str(site)!r}))
        assert not any(s.type == "influxdb" for s in config.sinks)
        Runtime(config, base_dir=Path("."))
        """,
        tmp_path,
    )
    assert imported == set()


def test_a_tool_without_its_extra_names_the_extra(tmp_path: Path) -> None:
    # A stand-in package that fails to import as a missing one does, ahead of the real one.
    fake = tmp_path / "fake"
    (fake / "amqtt").mkdir(parents=True)
    stub = "raise ModuleNotFoundError(\"No module named 'amqtt'\", name='amqtt')\n"
    (fake / "amqtt" / "__init__.py").write_text(stub)
    done = subprocess.run(
        [sys.executable, "-m", "smartsite.cli", "demo", "--duration", "1"], cwd=tmp_path, capture_output=True,
        text=True, timeout=60, env={"PYTHONPATH": f"{fake}:{project_root()}", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 1
    assert "pip install 'smartsite-gateway[demo]'" in done.stderr


def test_the_core_starts_without_scipy_signal_and_stats(tmp_path: Path) -> None:
    # The example site has quality rules (the spike screen's filter) and no trend rule.
    site = project_root() / "examples" / "site.yaml"
    threshold_only = tmp_path / "threshold-only.yaml"
    threshold_only.write_text(
        "site: {id: lean}\nmqtt: {url: 'mqtt://127.0.0.1:1883'}\n"
        "devices:\n  - {id: d1, type: mqtt, channels: {disp: {unit: mm}}}\n"
        "rules:\n  - {id: high, type: threshold, channels: ['*'], upper: {yellow: 5, red: 8}}\n"
        f"alarms: {{store: {tmp_path / 'alarms.db'}}}\n"
    )
    code = """
        from pathlib import Path
        from gateway.config import load_config
        from gateway.runtime import Runtime
        from smartsite.serve import serve  # what `run` imports
        Runtime(load_config(Path({site!r})), base_dir=Path("."))
        """
    assert _imported_after(code.format(site=str(site)), tmp_path, ("scipy.signal", "scipy.stats")) == set()
    assert _imported_after(code.format(site=str(threshold_only)), tmp_path, ("scipy", "httpx")) == set()


def test_run_keeps_the_gc_off_while_starting_and_freezes_what_the_start_built(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import gc
        import smartsite.serve
        from smartsite import cli

        seen = []
        async def serve(config, base_dir, duration, config_path, on_ready):
            seen.append(gc.isenabled())  # while starting
            on_ready(None, "http://127.0.0.1:1")
            seen.append((gc.isenabled(), gc.get_freeze_count() > 0))
            on_ready(None, "http://127.0.0.1:1")  # a reload: nothing more frozen
            return 0
        smartsite.serve.serve = serve
        assert cli.main(["run", "--config", "site.yaml"]) == 0
        assert seen == [False, (True, True)], seen
        assert gc.isenabled()
        print("ok")
        """
    )
    site = project_root() / "examples" / "site.yaml"
    (tmp_path / "site.yaml").write_text(site.read_text())
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(project_root()), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")
