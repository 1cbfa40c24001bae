"""The live feed and device states of a site, built from the runtime's parts (one call in the runtime)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gateway.alarms.desk import AlarmDesk
from gateway.live.devices import DeviceStates, SourceView
from gateway.live.feed import LiveFeed
from gateway.live.rounding import Rounding
from gateway.site import Site


def build_live(
    site: Site, desk: AlarmDesk, sources: Sequence[SourceView], clock: Callable[[], float]
) -> tuple[LiveFeed, DeviceStates]:
    rounding = Rounding({e.id: e.config.resolution for e in site.channels})
    feed = LiveFeed([e.id for e in site.channels], rounding)
    states = DeviceStates(
        site.config,
        site.channels,
        feed.latest,
        rounding,
        sources,
        in_maintenance=desk.maintenance.covers,
        clock=clock,
    )
    by_id = {d.id: d for d in site.config.devices}
    feed.watch_devices(states.states, lambda device: states.view(by_id[device]))
    return feed, states
