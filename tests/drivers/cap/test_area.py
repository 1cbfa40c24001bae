"""Area matching: polygon, circle and geocode against the site's location; no area applies."""

from __future__ import annotations

import pytest

from drivers.cap.area import SiteLocation, distance_km, inside_polygon, match_infos
from drivers.cap.parse import parse_cap
from tests.drivers.cap.documents import AROUND_SITE, ELSEWHERE, alert, area, info

SITE = SiteLocation(39.90, 116.40, frozenset({"110105", "110000"}))


def matched(areas: str, site: SiteLocation | None = SITE) -> tuple[bool, str]:
    parsed = parse_cap(alert(infos=info(areas=areas)).encode())
    m = match_infos(parsed.infos, site)
    return m.applies, m.how


def test_polygon_inside_and_outside() -> None:
    assert matched(area(polygon=AROUND_SITE)) == (True, "polygon")
    assert matched(area(polygon=ELSEWHERE)) == (False, "outside")


def test_concave_polygon_even_odd() -> None:
    # A "U" open to the north: the site sits in the notch, outside the shape.
    ring = ((39.0, 116.0), (39.0, 117.0), (40.5, 117.0), (40.5, 116.6), (39.5, 116.6), (39.5, 116.2),
            (40.5, 116.2), (40.5, 116.0), (39.0, 116.0))  # fmt: skip
    assert not inside_polygon(39.9, 116.4, ring)
    assert inside_polygon(39.2, 116.4, ring)
    assert inside_polygon(39.0, 116.5, ring)  # on an edge counts as inside


def test_circle_by_great_circle_distance() -> None:
    # 0.1° of latitude is about 11.1 km.
    assert distance_km(39.9, 116.4, 40.0, 116.4) == pytest.approx(11.12, abs=0.01)
    assert matched(area(polygon=None, circle="40.0,116.4 12")) == (True, "circle")
    assert matched(area(polygon=None, circle="40.0,116.4 10")) == (False, "outside")


def test_geocode_by_value_at_any_level() -> None:
    assert matched(area(polygon=None, geocode="110000")) == (True, "geocode")  # the city
    assert matched(area(polygon=None, geocode="310115")) == (False, "outside")


def test_any_area_of_any_info_block() -> None:
    areas = area("浦东", polygon=ELSEWHERE) + area("朝阳", polygon=None, geocode="110105")
    assert matched(areas) == (True, "geocode")
    zh = info(areas=area(polygon=ELSEWHERE))
    en = info(language="en-US", event="Gale", areas=area("Chaoyang", polygon=AROUND_SITE))
    parsed = parse_cap(alert(infos=zh + en).encode())
    assert match_infos(parsed.infos, SITE).how == "polygon"


def test_no_area_means_the_senders_region() -> None:
    assert matched("") == (True, "no_area")
    parsed = parse_cap(alert(msg_type="Cancel", infos="").encode())
    assert match_infos(parsed.infos, SITE).applies  # a Cancel without info


def test_area_without_geometry_and_site_without_location_apply() -> None:
    assert matched(area(polygon=None)) == (True, "undescribed")
    assert matched(area(polygon=ELSEWHERE), site=None) == (True, "no_location")
