"""The live feed of a site (one call in the runtime); the API attaches the device states it watches."""

from __future__ import annotations

from gateway.live.feed import LiveFeed
from gateway.live.rounding import Rounding
from gateway.site import Site


def build_live(site: Site) -> LiveFeed:
    rounding = Rounding({e.id: e.config.resolution for e in site.channels})
    return LiveFeed([e.id for e in site.channels], rounding)
