"""Replay recorded readings through the site's analytics: readers, the run, the report.

The gateway loads parts of the core only for the rules a site has (trend rules: scipy.special) and
the spike screen's filter for long blocks (scipy.signal, analytics.iir) on first need. A replay judges
long blocks of every rule: it loads them here, before its first block and its timing.
"""

import scipy.signal  # noqa: F401

import analytics.trend  # noqa: F401
from smartsite.replay.file_order import FileOrder
from smartsite.replay.readers import HEADER, Chunk, ReadingReader, ReadStats, ReplayInputError
from smartsite.replay.run import Replayer, ReplaySummary, replay

__all__ = [
    "HEADER",
    "Chunk",
    "FileOrder",
    "ReadStats",
    "ReadingReader",
    "ReplayInputError",
    "ReplaySummary",
    "Replayer",
    "replay",
]
