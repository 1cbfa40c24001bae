"""A store that fills up evicts its oldest readings, counts them, and the gateway keeps running."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from gateway.config import parse_config
from tests.faults.harness import SensorLoad, site_yaml
from tests.integration.site_helpers import running
from tests.support import Mosquitto, eventually, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

RETENTION = "    retention: {max_size_mb: 0.25, max_age_days: null, check_every_s: 0.2}\n"


async def test_full_store_evicts_oldest_first_counts_and_keeps_running(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    db = tmp_path / "store.db"
    # The platform broker's port has nothing listening: every reading stays unsent, so eviction
    # removes unsent records, which must be counted against the destination.
    dead_platform = free_port()
    text = site_yaml(mosquitto.port, free_port(), db, platform_port=dead_platform, retention=RETENTION)
    config = parse_config(text)
    load = SensorLoad(mosquitto.port, rounds_per_s=20.0)  # 2,000 readings/s
    async with running(config, tmp_path) as runtime:
        await eventually(lambda: runtime.sources[0].connected, 10, "gateway subscribed")
        publishing = asyncio.create_task(load.run(30.0))
        store = runtime.store
        assert store is not None
        await eventually(lambda: store.counters.evicted > 0, 40, "the store evicting")
        before = runtime.pipeline.stats.readings
        await eventually(
            lambda: runtime.pipeline.stats.readings > before + 2000, 20, "readings still flowing"
        )
        load.stop()
        await publishing
        written = load.total()
        await eventually(lambda: runtime.pipeline.stats.readings == written, 20, "all readings analysed")
        await eventually(lambda: store.counters.readings_written == written, 20, "all readings stored")
        # The store's thread may still be evicting: health and the counters agree once it rests.
        await eventually(
            lambda: runtime.health()["store"]["evicted"] == store.counters.evicted, 10, "eviction at rest"
        )
        health = runtime.health()
        evicted, evicted_unsent = store.counters.evicted, store.counters.evicted_unsent["mqtt"]
        assert all(t["restarts"] == 0 for t in health["tasks"])
        (dest,) = health["destinations"]

    assert health["store"]["evicted"] == evicted > 0
    assert dest["dropped"]["evicted"] == evicted_unsent > 0
    with contextlib.closing(sqlite3.connect(db)) as conn:
        low, high, kept = conn.execute("SELECT MIN(seq), MAX(seq), COUNT(*) FROM readings").fetchone()
        newest_ts = conn.execute("SELECT MAX(ts) FROM readings").fetchone()[0]
        queued = conn.execute(
            "SELECT COALESCE(SUM(count), 0) FROM forward_queue WHERE kind = 'readings'"
        ).fetchone()[0]
    # Oldest first: what is left is one unbroken run of the newest readings.
    assert kept == high - low + 1 and kept < written
    assert store.counters.evicted == written - kept
    assert newest_ts == max(max(stamps) for stamps in load.acknowledged.values())
    # Nothing silently lost: every reading is either still queued or counted as evicted unsent.
    assert queued + store.counters.evicted_unsent["mqtt"] == written
