"""What the dashboard sees live: the newest readings per channel, device states and the event feed
that the API streams to browsers (``api.routes.events``)."""

from gateway.live.devices import DeviceStates
from gateway.live.feed import LiveEvent, LiveFeed, Subscription
from gateway.live.latest import LatestReadings
from gateway.live.rounding import Rounding

__all__ = ["DeviceStates", "LatestReadings", "LiveEvent", "LiveFeed", "Rounding", "Subscription"]
