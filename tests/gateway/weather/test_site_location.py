"""The site's location in the site file: optional, checked, and refused with its key path."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, parse_config


def test_location_is_optional_and_read() -> None:
    assert parse_config("site: {id: s1}").site.location is None
    config = parse_config("site: {id: s1, location: {lat: 39.9, lon: 116.4, geocodes: ['110105', '110000']}}")
    location = config.site.location
    assert location is not None and (location.lat, location.lon) == (39.9, 116.4)
    assert location.geocodes == ["110105", "110000"]


BAD = ["{lat: 91, lon: 0}", "{lat: 0, lon: 181}", "{lat: 0}", "{lat: 0, lon: 0, x: 1}"]


@pytest.mark.parametrize("bad", BAD)
def test_bad_location_refused_with_its_path(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f"site: {{id: s1, location: {bad}}}")
    assert "site.location" in str(err.value)
