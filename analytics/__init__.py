"""Pure analytics over arrays: channel index, per-channel state, alarm rules. No I/O, no clock."""

from analytics.channel_index import UNKNOWN, ChannelIndex
from analytics.engine import Engine, EngineResult, Transitions
from analytics.thresholds import ThresholdSpec, graded

__all__ = [
    "UNKNOWN",
    "ChannelIndex",
    "Engine",
    "EngineResult",
    "ThresholdSpec",
    "Transitions",
    "graded",
]
