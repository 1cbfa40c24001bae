"""What the dashboard sees live: the newest readings per channel and the event feed that the API
streams to browsers (``api.routes.events``; device states are the API's, ``api.device_states``)."""

from gateway.live.feed import LiveEvent, LiveFeed, Subscription
from gateway.live.latest import LatestReadings
from gateway.live.rounding import Rounding

__all__ = ["LatestReadings", "LiveEvent", "LiveFeed", "Rounding", "Subscription"]
