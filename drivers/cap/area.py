"""Does a CAP warning's area cover the site? Polygons, circles and geocodes against one location.

CAP 1.2 (§3.3.3): an ``info`` without ``area`` concerns the sender's whole region, so it applies; an
``area`` with geometry or geocodes applies when any of them holds the site. An area with neither
(only ``areaDesc``) cannot be judged and is taken to apply, as is any area when the site file gives
no location: a missed warning costs more than an extra one. Geocodes are compared by value (feeds
name the same scheme differently: "GB2260", "行政区划代码", "ADCODE"), so the site lists the codes
of every level it lies in (district, city, province) to match warnings issued for any of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.cap.parse import Area, Info

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)


@dataclass(frozen=True, slots=True)
class SiteLocation:
    lat: float
    lon: float
    geocodes: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class AreaMatch:
    applies: bool
    how: str  # polygon, circle, geocode, no_area, undescribed, no_location, outside
    area: str = ""  # the areaDesc that matched, if any

    def as_dict(self) -> dict[str, object]:
        return {"applies": self.applies, "how": self.how, "area": self.area}


def inside_polygon(lat: float, lon: float, ring: tuple[tuple[float, float], ...]) -> bool:
    """Even-odd rule over the ring's edges (a point on an edge counts as inside)."""
    inside = False
    for (lat1, lon1), (lat2, lon2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if _on_segment(lat, lon, lat1, lon1, lat2, lon2):
            return True
        if (lat1 > lat) != (lat2 > lat):
            crossing = lon1 + (lat - lat1) * (lon2 - lon1) / (lat2 - lat1)
            if lon < crossing:
                inside = not inside
    return inside


def _on_segment(lat: float, lon: float, lat1: float, lon1: float, lat2: float, lon2: float) -> bool:
    cross = (lat2 - lat1) * (lon - lon1) - (lon2 - lon1) * (lat - lat1)
    if abs(cross) > 1e-12:
        return False
    return min(lat1, lat2) <= lat <= max(lat1, lat2) and min(lon1, lon2) <= lon <= max(lon1, lon2)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def area_holds(area: Area, site: SiteLocation) -> str | None:
    """How ``area`` holds the site (polygon, circle, geocode, undescribed), or None when it does not."""
    if not (area.polygons or area.circles or area.geocodes):
        return "undescribed"
    if any(inside_polygon(site.lat, site.lon, ring) for ring in area.polygons):
        return "polygon"
    if any(distance_km(site.lat, site.lon, lat, lon) <= r for lat, lon, r in area.circles):
        return "circle"
    if any(value.strip() in site.geocodes for _, value in area.geocodes):
        return "geocode"
    return None


def match_info(info: Info, site: SiteLocation | None) -> AreaMatch:
    if not info.areas:
        return AreaMatch(True, "no_area")
    if site is None:
        return AreaMatch(True, "no_location")
    for area in info.areas:
        how = area_holds(area, site)
        if how is not None:
            return AreaMatch(True, how, area.description)
    return AreaMatch(False, "outside")


def match_infos(infos: tuple[Info, ...], site: SiteLocation | None) -> AreaMatch:
    """Several ``info`` blocks (languages, or parts of a region): the warning applies if any does."""
    if not infos:
        return AreaMatch(True, "no_area")
    matches = [match_info(info, site) for info in infos]
    return next((m for m in matches if m.applies), matches[0])
