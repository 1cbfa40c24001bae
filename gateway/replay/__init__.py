"""Replay recorded readings through the site's analytics: readers, the run, the report."""

from gateway.replay.readers import HEADER, Chunk, ReadingReader, ReadStats, ReplayInputError
from gateway.replay.run import FileOrder, Replayer, ReplaySummary, replay

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
