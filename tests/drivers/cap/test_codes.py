"""Event and colour by table: GB/T 35561-style codes, names in zh and en, colour words, severity."""

from __future__ import annotations

import pytest

from drivers.cap.codes import WarningCodes, colour_rank
from drivers.cap.parse import parse_cap
from tests.drivers.cap.documents import alert, info

CODES = WarningCodes.default()


def kind(**fields: object) -> tuple[str | None, str | None]:
    parsed = parse_cap(alert(infos=info(**fields)).encode())  # type: ignore[arg-type]
    k = CODES.classify(parsed.infos[0])
    return k.event, k.colour


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("11B0601", ("gale", "blue")),
        ("11B0602", ("gale", "yellow")),
        ("11B0303", ("rainstorm", "orange")),
        ("11B0104", ("typhoon", "red")),
        ("11B1402", ("thunder", "yellow")),
        ("11B0401", ("snow", "blue")),
        ("11B0903", ("heat", "orange")),
        ("11B2002", ("thunderstorm_gale", "yellow")),
    ],
)
def test_gb_codes_with_colour_suffix(code: str, expected: tuple[str, str]) -> None:
    # The event's text says something else on purpose: the code wins.
    assert kind(code=code, event="预警", headline="预警信号", severity="Unknown") == expected


def test_names_in_chinese_longest_first_and_colour_words() -> None:
    assert kind(code=None, event="雷雨大风", headline="雷雨大风橙色预警") == ("thunderstorm_gale", "orange")
    assert kind(code=None, event="暴雨", headline="暴雨红色预警信号") == ("rainstorm", "red")


def test_names_in_english_as_whole_words() -> None:
    got = kind(code=None, event="Gale Warning", headline="Blue gale signal", language="en-US")
    assert got == ("gale", "blue")
    # "reduced" holds "red", "nightingale" holds "gale": neither counts.
    got = kind(code=None, event="Nightingale", headline="reduced visibility", severity="Unknown")
    assert got == (None, None)


def test_severity_when_nothing_names_a_colour() -> None:
    got = kind(code=None, event="Strong wind", headline="Strong wind", severity="Severe")
    assert got == ("gale", "orange")


def test_a_sites_own_codes_are_added_to_the_table() -> None:
    parsed = parse_cap(alert(infos=info(code="WS-7702", event="x", headline="x", severity="Minor")).encode())
    assert CODES.classify(parsed.infos[0]).event is None
    assert CODES.with_codes({"WS-77": "gale"}).classify(parsed.infos[0]).event == "gale"


def test_colour_rank() -> None:
    assert [colour_rank(c) for c in ("blue", "yellow", "orange", "red", None)] == [1, 2, 3, 4, 0]
