"""Replay recorded readings through the site's analytics: readers, the run, the report."""

from smartsite.replay.readers import HEADER, Chunk, ReadingReader, ReadStats, ReplayInputError
from smartsite.replay.run import FileOrder, Replayer, ReplaySummary, replay

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
