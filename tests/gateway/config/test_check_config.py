"""`smartsite check-config`: each folder under cases/ holds a broken site.yaml and expected.txt.

expected.txt has one line per problem the command must report, as the start of that line after the
folder path (``site.yaml:LINE: key.path: message``); the command must report no other problem.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.config.loader import MAX_CONFIG_BYTES, MAX_CONFIG_NODES, MAX_PROBLEMS_LISTED
from smartsite.cli import main
from tests.gateway.config.expected import assert_reports_expected

HERE = Path(__file__).parent
CASES = sorted(p for p in (HERE / "cases").iterdir() if p.is_dir())
EXAMPLE = HERE.parents[2] / "examples" / "site.yaml"

PROBLEM = re.compile(
    r"(?P<file>.+?)(?::(?P<line>\d+))?: "
    r"(?P<path>\((?:file|top level|YAML syntax)\)|[\w-]+(?:\.[\w-]+|\[\d+\])*): \S"
)


@pytest.fixture(autouse=True)
def _token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSITE_TEST_TOKEN", "secret")
    monkeypatch.delenv("SMARTSITE_TEST_UNSET_TOKEN", raising=False)


def check(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, list[str]]:
    code = main(["check-config", str(path)])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 14


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_broken_site_file(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = case / "site.yaml"
    text = site.read_text(encoding="utf-8")
    code, out, problems = check(capsys, site)
    assert (code, out) == (1, "")

    for problem in problems:
        m = PROBLEM.match(problem)
        assert m is not None, f"not FILE:LINE: key.path: message: {problem!r}"
        assert m["file"] == str(site)
        if m["line"] is not None:
            assert 1 <= int(m["line"]) <= len(text.splitlines()), problem
        elif top := re.match(r"[\w-]+", m["path"]):
            assert not re.search(rf"^{top[0]}:", text, re.M), f"no line, yet the key is there: {problem}"

    # Each expected line is the start of its own problem line, and nothing else is reported.
    assert_reports_expected(case, problems)


@pytest.mark.parametrize(
    ("path", "summary"),
    [
        (EXAMPLE, "site demo: 10 devices, 11 channels (+7 computed), 12 rules, 2 sinks"),
        (
            HERE / "valid" / "minimal.yaml",
            "site minimal: 0 devices, 0 channels (+0 computed), 0 rules, 0 sinks",
        ),
        (
            HERE / "valid" / "full.yaml",
            "site full-site: 2 devices, 2 channels (+0 computed), 1 rules, 2 sinks",
        ),
    ],
    ids=["example", "minimal", "full"],
)
def test_valid_site_file(path: Path, summary: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert check(capsys, path) == (0, f"{path}: ok ({summary})\n", [])


FILE_CASES = {
    "missing": (None, "(file): no such file"),
    "directory": ("dir", "(file): is a directory, not a site file"),
    "not_utf8": (b"site:\n  id: caf\xe9\n", "(file): not UTF-8 text (invalid continuation byte)"),
    "oversize": (
        b"#" * (MAX_CONFIG_BYTES + 1),
        f"(file): larger than a site file may be ({MAX_CONFIG_BYTES} bytes)",
    ),
    "deep_nesting": (b"x: " + b"[" * 5000 + b"]" * 5000, "(YAML syntax): nested too deeply"),
    # libyaml's own bound, met before Python's recursion limit: refused with the line.
    "deeper_than_libyaml": (b"x: " + b"[" * 1500 + b"]" * 1500, "(YAML syntax): nested too deeply"),
    # Tens of thousands of tiny lists under the size limit: refused by count, before any is built.
    "too_many_nodes": (
        b"devices:\n" + b"  - [1, 2]\n" * (MAX_CONFIG_NODES // 3 + 1),
        f"(file): more than {MAX_CONFIG_NODES} keys and items; no site file needs that many",
    ),
}


@pytest.mark.parametrize(("content", "message"), FILE_CASES.values(), ids=FILE_CASES.keys())
def test_unusable_file(
    content: bytes | str | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path if content == "dir" else tmp_path / "site.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    assert check(capsys, path) == (1, "", [f"{path}: {message}"])


def test_a_file_wrong_many_times_lists_the_first_problems_and_counts_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "site.yaml"
    wrong = 3 * MAX_PROBLEMS_LISTED
    path.write_text("site:\n  id: s1\ndevices:\n" + "  - [1]\n" * wrong)
    code, out, err = check(capsys, path)
    assert (code, out) == (1, "")
    assert len(err) == MAX_PROBLEMS_LISTED + 1
    assert all(PROBLEM.match(line) for line in err[:-1])
    assert err[0].startswith(f"{path}:4: devices[0]: ")
    # The devices' problems come first; site.id and anything else wrong are among the counted rest.
    assert re.fullmatch(r"\.\.\. and \d+ more problems like these", err[-1])
    assert int(err[-1].split()[2]) >= wrong - MAX_PROBLEMS_LISTED
