"""Where a site's SQLite files live: paths in the site file are relative to the site file's folder."""

from __future__ import annotations

from pathlib import Path

from gateway.config import SiteConfig, SqliteSinkConfig

DEFAULT_READING_STORE = "smartsite.db"


def _resolve(path: str, base_dir: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else base_dir / p


def alarm_store_path(config: SiteConfig, base_dir: Path) -> Path:
    """Alarm records, their audit trail and the push outbox."""
    return _resolve(config.alarms.store, base_dir)


def reading_store_path(config: SiteConfig, base_dir: Path) -> Path:
    """Readings, alarm events, cycles and the forward queues (the default file when no sqlite sink
    is configured: forwarding keeps its queues there)."""
    sink = next((s for s in config.sinks if isinstance(s, SqliteSinkConfig)), None)
    return _resolve(sink.path if sink is not None else DEFAULT_READING_STORE, base_dir)
