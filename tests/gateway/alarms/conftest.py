"""Fixtures of the alarm desk tests: a fake clock and the list of notices the desk pushed."""

from __future__ import annotations

import pytest

from gateway.alarms.notice import Notice
from tests.support import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def pushed() -> list[Notice]:
    return []
