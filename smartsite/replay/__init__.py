"""Replay recorded readings through the site's analytics: readers, the run, the report."""

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
