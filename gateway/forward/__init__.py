"""Store-and-forward: durable per-destination queues drained to the platform and InfluxDB."""

from gateway.forward.forwarder import Forwarder
from gateway.forward.rate import TokenBucket
from gateway.forward.stats import ForwardStats

__all__ = ["ForwardStats", "Forwarder", "TokenBucket"]
