"""Store-and-forward: durable per-destination queues drained to the platform and InfluxDB."""

from gateway.forward.forwarder import Forwarder
from gateway.forward.stats import ForwardStats
from gateway.forward.token_bucket import TokenBucket

__all__ = ["ForwardStats", "Forwarder", "TokenBucket"]
