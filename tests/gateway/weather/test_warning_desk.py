"""The warning desk on a real SQLite file: saved before told, restored after a restart, refusals counted."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from drivers.cap.area import SiteLocation
from drivers.cap.codes import WarningCodes
from drivers.cap.lifecycle import Applied, WarningBook
from drivers.cap.parse import CapError
from drivers.cap.warning import Change, WarningState
from drivers.warning_store import WarningStore
from gateway.weather.warning_desk import WarningDesk
from tests.drivers.cap.documents import alert, ref
from tests.support import FakeClock

SITE = SiteLocation(39.90, 116.40)
T0 = datetime.fromisoformat("2026-12-02T08:05:00+08:00").timestamp()


def desk(path: Path, clock: FakeClock) -> WarningDesk:
    return WarningDesk("s1", WarningBook(SITE, WarningCodes.default()), WarningStore(path), clock=clock)


class Heard:
    def __init__(self) -> None:
        self.changes: list[str] = []

    async def changed(self, applied: list[Applied]) -> None:
        self.changes += [a.change for a in applied]


async def test_warnings_restored_after_restart_and_expired_then(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    async with desk(tmp_path / "warnings.db", clock) as first:
        heard = Heard()
        first.listeners.append(heard)
        await first.receive(alert().encode())
        await first.receive(alert("T1", status="Exercise").encode())
        assert heard.changes == [Change.ISSUED, Change.RECORDED]
        outgoing = await first.store.outgoing()
        assert len(outgoing) == 2 and '"change":"issued"' in outgoing[0][1]
    async with desk(tmp_path / "warnings.db", clock) as second:
        records = second.listing()
        assert [(r.identifier, r.in_force) for r in records] == [("W1", True), ("T1", False)]
        # An update after the restart finds the warning it references.
        update = alert("W2", "2026-12-02T09:00:00+08:00", "Update", references=ref())
        (applied,) = await second.receive(update.encode())
        assert applied.change == Change.UPDATED and applied.record.id == records[0].id
        clock.now = datetime.fromisoformat("2026-12-02T20:00:00+08:00").timestamp()
        expired = {(a.record.identifier, a.change) for a in await second.expire()}
        assert expired == {("W1", Change.ENDED), ("T1", Change.RECORDED)}
        trail = await second.audit_trail(records[0].id)
        assert [e["action"] for e in trail] == ["alert", "update", "expired"]
    async with desk(tmp_path / "warnings.db", clock) as third:
        assert third.find(records[0].id).state == WarningState.EXPIRED


async def test_refused_documents_are_counted_by_reason(tmp_path: Path) -> None:
    async with desk(tmp_path / "w.db", FakeClock(T0)) as d:
        for bad in (b"<alert/>", b"not xml", b"x" * (2 * 1024 * 1024)):
            with pytest.raises(CapError):
                await d.receive(bad)
        assert d.health()["refused"] == {"wrong_namespace": 1, "malformed_xml": 1, "too_large": 1}
        assert d.health()["received"] == 0 and await d.store.outgoing() == []


async def test_a_duplicate_is_neither_saved_nor_told(tmp_path: Path) -> None:
    async with desk(tmp_path / "w.db", FakeClock(T0)) as d:
        await d.receive(alert().encode())
        (again,) = await d.receive(alert().encode())
        assert again.note == "duplicate" and len(await d.store.outgoing()) == 1


async def test_no_messages_kept_without_an_uplink_to_publish_them(tmp_path: Path) -> None:
    book = WarningBook(SITE, WarningCodes.default())
    quiet = WarningDesk("s1", book, WarningStore(tmp_path / "w.db"), clock=FakeClock(T0), publishes=False)
    async with quiet:
        await quiet.receive(alert().encode())
        assert len(quiet.listing()) == 1 and await quiet.store.outgoing() == []


async def test_a_large_document_is_parsed_and_applied_like_a_small_one(tmp_path: Path) -> None:
    from tests.drivers.cap.documents import area, info

    ring = " ".join(f"{39.0 + i * 3e-4:.4f},116.0" for i in range(5000)) + " 40.5,117.0 39.0,117.0 39.0,116.0"
    big = alert(infos=info(areas=area(polygon=ring))).encode()
    assert len(big) > 64 * 1024
    async with desk(tmp_path / "w.db", FakeClock(T0)) as d:
        (applied,) = await d.receive(big)
        assert applied.change == Change.ISSUED and applied.record.area["how"] == "polygon"
        with pytest.raises(CapError):
            await d.receive(big.replace(b"<sent>", b"<sent>x"))
        assert d.health()["refused"] == {"bad_date": 1}
