"""Shelving an alarm and maintenance (检修) of a device, on the desk with a fake clock and a real store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.alarm_store import AlarmStore
from gateway.alarms.desk import AlarmDesk
from gateway.alarms.maintenance import NotInMaintenanceError, UnknownDeviceError
from gateway.alarms.notice import Notice
from gateway.alarms.shelving import DurationError
from gateway.vocab import AlarmConflictError
from tests.gateway.alarms.desk_support import CONFIG, event, told
from tests.support import FakeClock

WHERE = {"pit.P1.disp_h": ("pit.P1", "north wall"), "crane1.load": ("crane1", "tower 1")}
HOUR = 3600.0


def open_desk(tmp_path: Path, clock: FakeClock, pushed: list[Notice]) -> AlarmDesk:
    async def notify(notices: list[Notice]) -> None:
        pushed.extend(notices)

    return AlarmDesk("s", CONFIG, AlarmStore(tmp_path / "alarms.db"), WHERE, notify, clock)


@pytest.fixture
async def desk(tmp_path: Path, clock: FakeClock, pushed: list[Notice]) -> AsyncIterator[AlarmDesk]:
    async with open_desk(tmp_path, clock, pushed) as d:
        yield d


async def actions(desk: AlarmDesk, alarm_id: str) -> list[tuple[str, str]]:
    return [(e["action"], e["actor"]) for e in await desk.audit_trail(alarm_id)]


# Shelving


async def test_shelved_alarm_pushes_nothing_and_ends_by_itself(
    desk: AlarmDesk, clock: FakeClock, pushed: list[Notice]
) -> None:
    await desk.apply(event("A", "raised", 2, clock.now))
    assert told(pushed) == [("officer", "raised")]
    record = await desk.shelve("A", "li (supervisor)", "gauge being re-zeroed", 2 * HOUR)
    view = record.view()
    assert view["shelved"] is True and view["shelved_by"] == "li (supervisor)"
    assert view["shelve_reason"] == "gauge being re-zeroed"
    assert view["shelved_until"] == "2027-01-15T10:00:00.000Z"  # now + 2 h, ISO 8601
    # Changes of the data are recorded but not pushed; the deadline passes without 督办.
    await desk.apply(event("A", "deescalated", 1, clock.now + 1))
    clock.now += 1000
    await desk.escalate_due()
    assert told(pushed) == [("officer", "raised")]
    assert desk.records["A"].grade == 1 and desk.shelved_notices == 1
    assert desk.controls_health()["shelved"] == 1
    # The shelf ends at its time: audited as the system's, the still-open alarm is reminded ...
    clock.now += 2 * HOUR
    await desk.escalate_due()
    assert desk.records["A"].shelf is None
    assert told(pushed)[1:] == [("officer", "reminder")]
    # ... and escalates again from then on.
    clock.now += 601
    await desk.escalate_due()
    assert told(pushed)[2:] == [("pm", "overdue"), ("pm-mail", "overdue")]
    assert await actions(desk, "A") == [
        ("raised", "system"),
        ("shelved", "li (supervisor)"),
        ("deescalated", "system"),
        ("unshelved", "system"),
        ("escalated_to_tier", "system"),
    ]
    trail = await desk.audit_trail("A")
    assert trail[1]["note"] == "gauge being re-zeroed" and trail[3]["note"] == "shelving time ended"


async def test_shelving_needs_a_reason_and_a_bounded_time(desk: AlarmDesk, clock: FakeClock) -> None:
    await desk.apply(event("B", "raised", 1, clock.now))
    with pytest.raises(DurationError, match="reason is required"):
        await desk.shelve("B", "li", "   ", HOUR)
    with pytest.raises(DurationError, match="longer than the 86400 s"):
        await desk.shelve("B", "li", "noisy", 24 * HOUR + 1)
    with pytest.raises(DurationError, match="positive"):
        await desk.shelve("B", "li", "noisy", 0)
    with pytest.raises(AlarmConflictError, match="not shelved"):
        await desk.unshelve("B", "li")
    assert desk.records["B"].shelf is None and await actions(desk, "B") == [("raised", "system")]
    await desk.shelve("B", "li", "noisy", HOUR)
    await desk.shelve("B", "wang", "still noisy", 3 * HOUR)  # again: replaces the shelf
    assert desk.records["B"].shelf == {
        "until": clock.now + 3 * HOUR, "by": "wang", "reason": "still noisy", "since": clock.now,
    }  # fmt: skip
    await desk.unshelve("B", "wang", "fixed")
    assert [a for a, _ in await actions(desk, "B")] == ["raised", "shelved", "shelved", "unshelved"]
    await desk.apply(event("B", "cleared", 0, clock.now + 1))
    await desk.close("B", "wang", "done")
    with pytest.raises(AlarmConflictError, match="closed"):
        await desk.shelve("B", "wang", "late", HOUR)


async def test_a_rise_to_red_is_pushed_through_the_shelf(
    desk: AlarmDesk, clock: FakeClock, pushed: list[Notice]
) -> None:
    await desk.apply(event("C", "raised", 1, clock.now))
    await desk.shelve("C", "li", "known drift", HOUR)
    await desk.apply(event("C", "escalated", 2, clock.now + 1))  # orange: still shelved
    assert told(pushed) == [("officer", "raised")]
    await desk.apply(event("C", "escalated", 3, clock.now + 2))
    assert sorted(told(pushed)[1:]) == [
        ("director", "escalated"), ("officer", "escalated"), ("pm", "escalated"), ("pm-mail", "escalated"),
    ]  # fmt: skip
    assert desk.records["C"].shelf is None
    trail = await desk.audit_trail("C")
    assert (trail[-1]["action"], trail[-1]["note"]) == ("unshelved", "rose to red while shelved")


async def test_closing_ends_the_shelf_and_the_shelf_survives_a_restart(
    tmp_path: Path, clock: FakeClock, pushed: list[Notice]
) -> None:
    async with open_desk(tmp_path, clock, pushed) as desk:
        await desk.apply(event("D", "raised", 2, clock.now))
        await desk.shelve("D", "li", "crane under test", HOUR)
    async with open_desk(tmp_path, clock, pushed) as again:
        assert again.records["D"].view()["shelved_by"] == "li"
        await again.close("D", "wang", "tested", override_reason="load test, not a real overload")
        assert again.records["D"].shelf is None
        assert [a for a, _ in await actions(again, "D")][-2:] == ["closed", "unshelved"]


# Maintenance (检修)


async def test_device_in_maintenance_raises_nothing_and_what_outlasts_it_is_raised(
    desk: AlarmDesk, clock: FakeClock, pushed: list[Notice]
) -> None:
    window = await desk.start_maintenance("pit.P1", "li (supervisor)", "replacing the inclinometer", HOUR)
    assert window.view()["until"] == "2027-01-15T09:00:00.000Z"
    assert desk.maintenance_view("pit.P1")["in_maintenance"] is True
    assert desk.maintenance_view("crane1")["in_maintenance"] is False
    # A spike while the sensor is handled: raised and cleared, it leaves nothing at all.
    await desk.apply(event("S", "raised", 3, clock.now + 1))
    await desk.apply(event("S", "cleared", 0, clock.now + 2))
    # A real rise that outlasts the work: held while in maintenance.
    await desk.apply(event("M", "raised", 1, clock.now + 3))
    await desk.apply(event("M", "escalated", 2, clock.now + 4))
    # The other device raises as usual.
    await desk.apply(event("K", "raised", 2, clock.now + 5, channel="crane1.load"))
    assert set(desk.records) == {"K"} and told(pushed) == [("officer", "raised")]
    health = desk.controls_health()
    assert health["suppressed"]["maintenance_events"] == 4 and health["suppressed"]["maintenance_held"] == 1
    assert [w["device"] for w in health["maintenance"]] == ["pit.P1"]
    # The end time comes: the window ends by itself and what the data still says is raised, once.
    clock.now += HOUR
    await desk.escalate_due()
    await desk.escalate_due()
    assert desk.maintenance_view("pit.P1")["in_maintenance"] is False
    assert set(desk.records) == {"K", "M"} and desk.records["M"].grade == 2
    about_m = [(n.receiver, n.kind) for n in pushed if n.alarm["id"] == "M"]
    assert about_m == [("officer", "raised")]  # (the crane's K went overdue meanwhile, as it should)
    trail = await desk.maintenance_trail("pit.P1")
    assert [(e["action"], e["actor"]) for e in trail] == [
        ("maintenance_started", "li (supervisor)"),
        ("maintenance_ended", "system"),
    ]
    assert trail[0]["note"] == "replacing the inclinometer" and trail[1]["detail"]["raised"] == ["M"]
    # After the maintenance, the device raises as usual again.
    await desk.apply(event("N", "raised", 1, clock.now + 1))
    assert "N" in desk.records


async def test_an_alarm_from_before_maintenance_follows_the_data_silently(
    desk: AlarmDesk, clock: FakeClock, pushed: list[Notice]
) -> None:
    await desk.apply(event("P", "raised", 2, clock.now))
    await desk.start_maintenance("pit.P1", "li", "re-wiring", HOUR)
    clock.now += 1000  # past the orange deadline: no 督办 while in maintenance
    await desk.escalate_due()
    await desk.apply(event("P", "cleared", 0, clock.now))
    assert desk.records["P"].active is False and told(pushed) == [("officer", "raised")]
    assert desk.maintenance.suppressed_notices == 1  # the cleared push to the officer
    count = await desk.end_maintenance("pit.P1", "li", "done")
    assert count == 0  # nothing still active
    with pytest.raises(NotInMaintenanceError):
        await desk.end_maintenance("pit.P1", "li")


async def test_maintenance_bounds_unknown_devices_and_restart(
    tmp_path: Path, clock: FakeClock, pushed: list[Notice]
) -> None:
    async with open_desk(tmp_path, clock, pushed) as desk:
        with pytest.raises(UnknownDeviceError):
            await desk.start_maintenance("crane9", "li", "x", HOUR)
        with pytest.raises(UnknownDeviceError):
            desk.maintenance_view("crane9")
        with pytest.raises(DurationError, match="longer than the 259200 s"):
            await desk.start_maintenance("crane1", "li", "jacking", 73 * HOUR)
        with pytest.raises(DurationError, match="reason"):
            await desk.start_maintenance("crane1", "li", "", HOUR)
        await desk.start_maintenance("crane1", "li", "jacking the mast", 8 * HOUR)
        await desk.start_maintenance("crane1", "wang", "jacking, one more section", 10 * HOUR)
    async with open_desk(tmp_path, clock, pushed) as again:  # kept across a restart
        view = again.maintenance_view("crane1")
        assert (view["by"], view["reason"]) == ("wang", "jacking, one more section")
        await again.apply(event("Q", "raised", 3, clock.now, channel="crane1.load"))
        assert "Q" not in again.records and pushed == []
        trail = await again.maintenance_trail("crane1")
        assert [e["action"] for e in trail] == ["maintenance_started", "maintenance_started"]
        assert trail[1]["detail"]["replaces_until"] == clock.now + 8 * HOUR
        await again.end_maintenance("crane1", "wang", "mast jacked")
        assert "Q" in again.records and again.records["Q"].state == "raised"
        assert sorted(r for r, _ in told(pushed)) == ["director", "officer", "pm", "pm-mail"]


async def test_an_alarm_from_before_maintenance_still_active_at_its_end_is_reminded(
    desk: AlarmDesk, clock: FakeClock, pushed: list[Notice]
) -> None:
    await desk.apply(event("R", "raised", 2, clock.now))
    await desk.start_maintenance("pit.P1", "li", "re-wiring", HOUR)
    await desk.apply(event("R", "deescalated", 1, clock.now + 1))  # followed, not pushed
    clock.now += 2000
    assert await desk.end_maintenance("pit.P1", "li", "done") == 1
    assert told(pushed) == [("officer", "raised"), ("officer", "reminder")]
    assert pushed[-1].alarm["grade"] == 1
    clock.now += 601  # the yellow deadline from the end of the maintenance: 督办 again
    await desk.escalate_due()
    assert told(pushed)[2:] == [("pm", "overdue"), ("pm-mail", "overdue")]
