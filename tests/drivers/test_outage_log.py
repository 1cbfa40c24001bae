"""A link's outage is logged once when it breaks, again only when its cause changes, once when back."""

from __future__ import annotations

import logging

import pytest

from drivers.outage import MAX_REASONS_LOGGED, OutageLog


def test_one_line_per_outage_and_per_new_cause(caplog: pytest.LogCaptureFixture) -> None:
    log = OutageLog(logging.getLogger("test.outage"), "uplink mqtts://platform:8883")
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        for _ in range(50):
            log.failed("connection refused")
        for _ in range(50):
            log.failed("certificate verify failed: unable to get local issuer certificate")
        log.failed("connection refused")  # back to a cause already told: not again
        log.recovered()
        log.failed("connection refused")  # a new outage: told again
    lines = [r.getMessage() for r in caplog.records]
    assert (
        lines[0]
        == "uplink mqtts://platform:8883 failed: connection refused (retrying; logged once per outage)"
    )
    assert lines[1] == (
        "uplink mqtts://platform:8883 still failing, now: "
        "certificate verify failed: unable to get local issuer certificate"
    )
    assert lines[2].startswith("uplink mqtts://platform:8883 recovered after ")
    assert lines[3].endswith("failed: connection refused (retrying; logged once per outage)")
    assert len(lines) == 4
    assert (log.failures, log.outages, log.last_reason) == (102, 2, "connection refused")


def test_a_cause_that_changes_every_time_is_not_a_flood(caplog: pytest.LogCaptureFixture) -> None:
    log = OutageLog(logging.getLogger("test.outage2"), "store")
    with caplog.at_level(logging.WARNING, logger="test.outage2"):
        for i in range(100):
            log.failed(f"timeout after {i} ms")
    assert len(caplog.records) == MAX_REASONS_LOGGED
