from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.drivers.influx.fake_influx import FakeInflux
from tests.vm import VictoriaMetrics


@pytest.fixture
def victoria_metrics(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A private VictoriaMetrics (dedup on: a point sent twice is stored once), stopped and reaped after."""
    with VictoriaMetrics(tmp_path / "victoria-metrics") as server:
        yield server


@pytest.fixture
async def fake_influx() -> AsyncIterator[FakeInflux]:
    server = FakeInflux()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
