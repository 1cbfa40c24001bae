"""The alarm desk: lifecycle, reopening, escalation (督办) and the audit trail, on a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.alarm_store import AlarmStore
from gateway.alarms.desk import AlarmDesk
from gateway.alarms.notice import Notice
from gateway.vocab import AlarmConflictError, AlarmNotFoundError, ReadingBatch, SinkBatch
from tests.gateway.alarms.desk_support import CONFIG, event, told
from tests.support import FakeClock


@pytest.fixture
async def desk(tmp_path: Path, clock: FakeClock, pushed: list[Notice]) -> AsyncIterator[AlarmDesk]:
    async def notify(notices: list[Notice]) -> None:
        pushed.extend(notices)

    where = {"pit.P1.disp_h": ("pit.P1", "north wall")}
    async with AlarmDesk("s", CONFIG, AlarmStore(tmp_path / "alarms.db"), where, notify, clock) as d:
        yield d


async def test_orange_unacknowledged_reaches_tier_two_exactly_once(
    desk: AlarmDesk, clock: FakeClock, pushed: list[Notice]
) -> None:
    await desk.apply(event("A", "raised", 2, clock.now))
    assert told(pushed) == [("officer", "raised")]
    assert pushed[0].alarm["position"] == "north wall" and pushed[0].alarm["link"].endswith("/#/alarms/A")
    clock.now += 299
    await desk.escalate_due()
    assert len(pushed) == 1
    clock.now += 2
    await desk.escalate_due()
    await desk.escalate_due()
    assert told(pushed)[1:] == [("pm", "overdue"), ("pm-mail", "overdue")]
    # Acknowledging stops further escalation.
    await desk.ack("A", "li (supervisor)", "on my way")
    clock.now += 10_000
    await desk.escalate_due()
    assert ("director", "overdue") not in told(pushed)
    trail = [e["action"] for e in await desk.audit_trail("A")]
    assert trail == ["raised", "escalated_to_tier", "acknowledged"]


async def test_red_reaches_every_tier_at_once(
    desk: AlarmDesk, clock: FakeClock, pushed: list[Notice]
) -> None:
    await desk.apply(event("R", "raised", 3, clock.now))
    assert sorted(r for r, _ in told(pushed)) == ["director", "officer", "pm", "pm-mail"]
    clock.now += 3600
    await desk.escalate_due()
    assert len(pushed) == 4  # nothing left to escalate to


async def test_escalation_to_red_tells_the_remaining_tiers(
    desk: AlarmDesk, clock: FakeClock, pushed: list[Notice]
) -> None:
    await desk.apply(event("E", "raised", 1, clock.now))
    await desk.apply(event("E", "escalated", 3, clock.now + 1))
    assert told(pushed) == [
        ("officer", "raised"),
        ("officer", "escalated"),
        ("pm", "escalated"),
        ("pm-mail", "escalated"),
        ("director", "escalated"),
    ]


async def test_close_rules(desk: AlarmDesk, clock: FakeClock) -> None:
    await desk.apply(event("C", "raised", 2, clock.now))
    with pytest.raises(AlarmConflictError, match="still active"):
        await desk.close("C", "wang", "fixed")
    record = await desk.close("C", "wang", "props added", override_reason="sensor moved, reading invalid")
    assert record.status == "closed" and record.override_reason == "sensor moved, reading invalid"
    with pytest.raises(AlarmConflictError, match="already closed"):
        await desk.close("C", "wang", "again", override_reason="x")
    with pytest.raises(AlarmConflictError):
        await desk.ack("C", "wang")
    with pytest.raises(AlarmNotFoundError):
        await desk.ack("nope", "wang")


async def test_cleared_then_closed_without_override(desk: AlarmDesk, clock: FakeClock) -> None:
    await desk.apply(event("D", "raised", 1, clock.now))
    await desk.assign("D", "wang", "team 3", clock.now + 86400, "add props")
    await desk.apply(event("D", "cleared", 0, clock.now + 60))
    record = await desk.close("D", "wang", "props added, re-measured")
    assert (record.status, record.override_reason, record.assignee) == ("closed", None, "team 3")
    trail = [e["action"] for e in await desk.audit_trail("D")]
    assert trail == ["raised", "acknowledged", "rectifying", "cleared", "closed"]


async def test_raise_within_the_window_reopens(desk: AlarmDesk, clock: FakeClock) -> None:
    await desk.apply(event("F", "raised", 1, clock.now))
    await desk.apply(event("F", "cleared", 0, clock.now + 10))
    assert desk.reopen_id("pit.P1.disp_h", "disp", clock.now + 10 + 599) == "F"
    assert desk.reopen_id("pit.P1.disp_h", "disp", clock.now + 10 + 601) is None
    assert desk.reopen_id("pit.P1.disp_h", "other_rule", clock.now + 20) is None
    await desk.apply(event("F", "raised", 2, clock.now + 100))
    assert desk.records["F"].reopened == 1 and desk.records["F"].active


async def test_the_same_event_twice_is_applied_once(
    desk: AlarmDesk, clock: FakeClock, pushed: list[Notice]
) -> None:
    raised = event("G", "raised", 2, clock.now)
    batch = SinkBatch(ReadingBatch.empty(), (raised,))
    await desk.write(batch)
    await desk.write(batch)
    assert len(pushed) == 1
    assert [e["action"] for e in await desk.audit_trail("G")] == ["raised"]


async def test_records_and_escalation_survive_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    pushed: list[Notice] = []

    async def notify(notices: list[Notice]) -> None:
        pushed.extend(notices)

    path = tmp_path / "alarms.db"
    async with AlarmDesk("s", CONFIG, AlarmStore(path), {}, notify, clock) as first:
        await first.apply(event("H", "raised", 2, clock.now))
        await first.ack("H", "zhang", "seen")
        await first.apply(event("I", "raised", 2, clock.now))
    clock.now += 301
    async with AlarmDesk("s", CONFIG, AlarmStore(path), {}, notify, clock) as second:
        assert second.records["H"].status == "acknowledged" and second.records["H"].acked_by == "zhang"
        await second.escalate_due()
        assert told(pushed)[-2:] == [("pm", "overdue"), ("pm-mail", "overdue")]
        assert pushed[-1].alarm["id"] == "I"
        assert [e["action"] for e in await second.audit_trail("H")] == ["raised", "acknowledged"]
