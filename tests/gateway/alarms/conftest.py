"""Fixtures of the alarm desk tests: a fake clock and the list of notices the desk pushed."""

from __future__ import annotations

import pytest

from gateway.alarms.notice import Notice
from tests.gateway.alarms.desk_support import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pushed() -> list[Notice]:
    return []
