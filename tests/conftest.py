from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path / "broker") as broker:
        yield broker


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[type]:
    started: list[Mosquitto] = []

    class Factory:
        @staticmethod
        def new(name: str) -> Mosquitto:
            broker = Mosquitto(tmp_path / name)
            broker.start()
            started.append(broker)
            return broker

    yield Factory
    for broker in started:
        broker.stop()


@pytest.fixture(autouse=True)
def _restore_root_log_level() -> Iterator[None]:
    """CLI verbs called in-process set the root logger's level; keep that from leaking to others."""
    import logging

    root = logging.getLogger()
    level = root.level
    try:
        yield
    finally:
        root.setLevel(level)
