"""`smartsite check-config` warnings: each folder under warnings/ holds a valid site.yaml whose rules
do not fit how often its devices report, and expected.txt with one line per warning (the start of
the line after the folder path, ``site.yaml:LINE: key.path: warning: message``). The file is valid:
the command exits 0 and says ok; the warnings go to stderr and nothing else is reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import parse_config
from gateway.config.meaning_periods import check_periods, device_periods
from smartsite.cli import main
from tests.gateway.config.expected import assert_reports_expected

HERE = Path(__file__).parent
CASES = sorted(p for p in (HERE / "warnings").iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_warnings_of_a_valid_site_file(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = case / "site.yaml"
    code = main(["check-config", str(site)])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.startswith(f"{site}: ok (")
    assert_reports_expected(case, err.splitlines())


def test_there_are_warning_cases_with_and_without_warnings() -> None:
    counts = [len((c / "expected.txt").read_text(encoding="utf-8").splitlines()) for c in CASES]
    assert 0 in counts
    assert max(counts) >= 3


def test_mqtt_devices_without_a_period_are_not_judged() -> None:
    config = parse_config(
        """
site: {id: w}
devices:
  - {id: pit.P1, type: mqtt, channels: {disp_h: {unit: mm}}}
rules:
  - {id: r, type: rate, channels: [pit.P1.disp_h], window_s: 600, upper: {red: 1}}
"""
    )
    assert device_periods(config) == {}
    assert check_periods(config) == []


def test_the_slowest_device_of_a_rule_decides() -> None:
    config = parse_config(
        """
site: {id: w}
devices:
  - {id: a, type: mqtt, period_s: 1, channels: {x: {unit: mm}}}
  - {id: b, type: mqtt, period_s: 600, channels: {x: {unit: mm}}}
rules:
  - {id: q, type: quality, channels: ["*.x"], silent_s: 900}
"""
    )
    (warning,) = check_periods(config)
    assert warning.path == ("rules", 0, "silent_s")
    assert warning.message.startswith("warning: b reports every 10 min")


def test_the_period_must_be_positive() -> None:
    with pytest.raises(Exception, match="period_s"):
        parse_config(
            "site: {id: w}\ndevices:\n  - {id: a, type: mqtt, period_s: 0, channels: {x: {unit: mm}}}\n"
        )
