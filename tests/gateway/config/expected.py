"""The check-config cases: a folder with a site.yaml and the lines it must report, in expected.txt."""

from __future__ import annotations

import os
from pathlib import Path


def assert_reports_expected(case: Path, reported: list[str]) -> None:
    """Each line of the case's expected.txt starts a reported line of its own; nothing else is reported."""
    unmatched = list(reported)
    for want in (case / "expected.txt").read_text(encoding="utf-8").splitlines():
        prefix = f"{case}{os.sep}{want}"
        hit = next((p for p in unmatched if p.startswith(prefix)), None)
        assert hit is not None, f"{want!r} not among {unmatched}"
        unmatched.remove(hit)
    assert unmatched == []
