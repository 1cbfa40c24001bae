"""The rooms of docs/architecture.md hold: who may import whom, no cycles, one job per module name."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "drivers", "analytics", "api", "simulators", "smartsite")

# room (module prefix) -> prefixes of ours it may import (itself always allowed)
MAY_IMPORT = {
    "gateway.vocab": (),
    "analytics": ("gateway.vocab",),
    "drivers": ("gateway.vocab",),
    "simulators": ("gateway.config", "gateway.vocab"),
    "gateway": ("gateway", "analytics", "drivers"),
    "api": ("gateway", "analytics", "drivers"),
    "smartsite": PACKAGES,
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # also imports under `if TYPE_CHECKING:` are not run, so not a cycle
        nodes = [n for n in nodes if isinstance(n, ast.Import | ast.ImportFrom)]
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in PACKAGES}


def _room(module: str) -> str:
    return "gateway.vocab" if module.startswith("gateway.vocab") else module.split(".")[0]


def _ours(name: str) -> str | None:
    """The module of ours an imported name refers to (a name imported from a package is the package)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_import_goes_to_a_room_it_may_enter(module: str) -> None:
    room = _room(module)
    allowed = (room, *MAY_IMPORT[room])
    wrong = sorted(
        target
        for name in _imports(MODULES[module], top_level_only=False)
        if (target := _ours(name)) is not None
        and not any(target == a or target.startswith(a + ".") for a in allowed)
    )
    assert not wrong, f"{module} ({room}) imports {wrong}"


def test_the_runtime_never_imports_the_tools_the_simulators_or_the_api() -> None:
    runtime = [m for m in MODULES if m.startswith("gateway")]
    assert len(runtime) > 50
    for module in runtime:
        targets = {_ours(n) for n in _imports(MODULES[module], top_level_only=False)}
        assert not {t for t in targets if t and t.split(".")[0] in ("smartsite", "simulators", "api")}, module


def test_no_import_cycles() -> None:
    graph = {
        m: {t for n in _imports(p, top_level_only=True) if (t := _ours(n)) and t != m}
        for m, p in MODULES.items()
    }
    # a package's __init__ importing its own modules is how it hands names on, not a cycle of jobs
    for m, targets in graph.items():
        graph[m] = {t for t in targets if not (MODULES[m].name == "__init__.py" and t.startswith(m + "."))}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack[stack.index(t) :], t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_no_module_name_is_used_for_two_jobs() -> None:
    # api/routes/ names each router after the resource it serves (alarms, channels, baselines), so
    # those names stand for the same job as the room that keeps the resource.
    files = [p for p in MODULES.values() if p.name != "__init__.py" and "routes" not in p.parts]
    names = Counter(p.name for p in files)
    twice = {
        n: sorted(str(p.relative_to(ROOT)) for p in files if p.name == n) for n, c in names.items() if c > 1
    }
    assert not twice, twice


def test_the_runtime_is_at_most_about_a_third_of_the_code() -> None:
    lines = {p: len(p.read_text(encoding="utf-8").splitlines()) for p in MODULES.values()}
    runtime = sum(n for p, n in lines.items() if p.relative_to(ROOT).parts[0] == "gateway")
    assert runtime / sum(lines.values()) < 0.36
