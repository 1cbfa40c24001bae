"""Official warnings through their lifecycle, from hand-written CAP documents."""

from __future__ import annotations

from datetime import datetime

import pytest

from drivers.cap.area import SiteLocation
from drivers.cap.codes import WarningCodes
from drivers.cap.lifecycle import WarningBook
from drivers.cap.parse import parse_cap
from drivers.cap.warning import Change, WarningState
from tests.drivers.cap.documents import ELSEWHERE, alert, area, info, ref

SITE = SiteLocation(39.90, 116.40, frozenset({"110105"}))
T0 = datetime.fromisoformat("2026-12-02T08:05:00+08:00").timestamp()


def book() -> WarningBook:
    return WarningBook(SITE, WarningCodes.default())


def apply(b: WarningBook, document: str, now: float = T0) -> list[tuple[str, str, str]]:
    """(change, state, colour) of each warning the document changed."""
    return [
        (a.change, a.record.state, a.record.colour or "") for a in b.apply(parse_cap(document.encode()), now)
    ]


def test_alert_opens_a_warning_in_force() -> None:
    b = book()
    assert apply(b, alert()) == [(Change.ISSUED, WarningState.RECEIVED, "yellow")]
    (record,) = b.records.values()
    assert record.in_force and record.event == "gale" and record.area["how"] == "polygon"
    assert record.expires == datetime.fromisoformat("2026-12-02T20:00:00+08:00").timestamp()


def test_the_same_message_twice_changes_nothing() -> None:
    b = book()
    apply(b, alert())
    # The same triple, its time written with another offset.
    again = alert(sent="2026-12-02T00:00:00Z")
    assert [a.note for a in b.apply(parse_cap(again.encode()), T0)] == ["duplicate"]
    assert len(b.records) == 1


def test_update_chain_then_cancel() -> None:
    b = book()
    apply(b, alert())
    orange = info(code="11B0603", headline="大风橙色预警")
    update = alert("W2", "2026-12-02T10:00:00+08:00", "Update", references=ref(), infos=orange)
    assert apply(b, update, T0 + 7200) == [(Change.UPDATED, WarningState.UPDATED, "orange")]
    # The next update references the latest message of the chain, not the first.
    red = info(code="11B0604", headline="大风红色预警")
    update2 = alert("W3", "2026-12-02T11:00:00+08:00", "Update", infos=red,
                    references=ref("W2", "2026-12-02T10:00:00+08:00"))  # fmt: skip
    assert apply(b, update2, T0 + 10800) == [(Change.UPDATED, WarningState.UPDATED, "red")]
    cancel = alert("W4", "2026-12-02T12:00:00+08:00", "Cancel", infos="",
                   references=ref("W3", "2026-12-02T11:00:00+08:00"))  # fmt: skip
    assert apply(b, cancel, T0 + 14400) == [(Change.ENDED, WarningState.CANCELLED, "red")]
    (record,) = b.records.values()
    assert len(record.messages) == 4 and record.ended_at == T0 + 14400 and not record.in_force


def test_cancel_referencing_several_warnings_ends_each() -> None:
    b = book()
    apply(b, alert("G1"))
    apply(b, alert("R1", infos=info(code="11B0301", event="暴雨", headline="暴雨蓝色预警")))
    refs = f"{ref('G1')} {ref('R1')}"
    cancel = alert("C1", "2026-12-02T09:00:00+08:00", "Cancel", references=refs, infos="")
    assert [c for c, _, _ in apply(b, cancel)] == [Change.ENDED, Change.ENDED]
    assert not any(r.in_force for r in b.records.values())


def test_update_referencing_several_keeps_the_newest_and_supersedes_the_others() -> None:
    b = book()
    apply(b, alert("A1"), T0)
    apply(b, alert("A2", "2026-12-02T08:30:00+08:00"), T0 + 60)
    refs = f"{ref('A1')} {ref('A2', '2026-12-02T08:30:00+08:00')}"
    update = alert("A3", "2026-12-02T09:00:00+08:00", "Update", references=refs)
    changed = b.apply(parse_cap(update.encode()), T0 + 120)
    assert [(a.record.identifier, a.change, a.note) for a in changed] == [
        ("A2", Change.UPDATED, ""),
        ("A1", Change.ENDED, "superseded"),
    ]


def test_update_or_cancel_of_an_unknown_warning() -> None:
    b = book()
    update = alert("U1", msg_type="Update", references=ref("never-seen"))
    assert apply(b, update) == [(Change.ISSUED, WarningState.RECEIVED, "yellow")]
    cancel = alert("C1", msg_type="Cancel", references=ref("never-seen-either"), infos="")
    assert apply(b, cancel) == [(Change.RECORDED, WarningState.CANCELLED, "")]


@pytest.mark.parametrize("msg_type", ["Ack", "Error"])
def test_ack_and_error_are_recorded_only(msg_type: str) -> None:
    b = book()
    apply(b, alert())
    answer = alert("X1", msg_type=msg_type, references=ref(), infos="")
    assert apply(b, answer) == [(Change.RECORDED, WarningState.RECEIVED, "")]
    assert sum(r.in_force for r in b.records.values()) == 1  # the warning it answers is untouched


@pytest.mark.parametrize("status", ["Test", "Exercise", "Draft", "System"])
def test_not_real_is_recorded_never_acted_on(status: str) -> None:
    b = book()
    assert apply(b, alert("T1", status=status)) == [(Change.RECORDED, WarningState.RECEIVED, "yellow")]
    (record,) = b.records.values()
    assert record.not_acted == status.lower() and not record.in_force


def test_a_test_cancel_never_touches_a_real_warning() -> None:
    b = book()
    apply(b, alert())
    cancel = alert("T2", msg_type="Cancel", status="Test", references=ref(), infos="")
    apply(b, cancel)
    real = next(r for r in b.records.values() if r.identifier == "W1")
    assert real.in_force


def test_expiry_at_expires_and_a_default_life_without_it() -> None:
    b = book()
    apply(b, alert())
    apply(b, alert("N1", infos=info(expires=None)))
    expires = datetime.fromisoformat("2026-12-02T20:00:00+08:00").timestamp()
    assert b.expire(expires - 1) == []
    assert [(a.record.identifier, a.change) for a in b.expire(expires)] == [("W1", Change.ENDED)]
    sent = datetime.fromisoformat("2026-12-02T08:00:00+08:00").timestamp()
    assert [a.record.identifier for a in b.expire(sent + 24 * 3600)] == ["N1"]
    assert {r.state for r in b.records.values()} == {WarningState.EXPIRED}


def test_an_alert_already_expired_when_it_arrives() -> None:
    b = book()
    late = datetime.fromisoformat("2026-12-02T21:00:00+08:00").timestamp()
    assert apply(b, alert(), late) == [(Change.RECORDED, WarningState.EXPIRED, "yellow")]


def test_area_outside_is_recorded_and_an_update_may_move_it_in_or_out() -> None:
    b = book()
    away = info(areas=area("浦东", polygon=ELSEWHERE))
    assert apply(b, alert(infos=away)) == [(Change.RECORDED, WarningState.RECEIVED, "yellow")]
    assert next(iter(b.records.values())).not_acted == "outside"
    here = alert("W2", "2026-12-02T09:00:00+08:00", "Update", references=ref())
    assert apply(b, here) == [(Change.ISSUED, WarningState.UPDATED, "yellow")]
    gone = alert("W3", "2026-12-02T10:00:00+08:00", "Update", infos=away,
                 references=ref("W2", "2026-12-02T09:00:00+08:00"))  # fmt: skip
    assert apply(b, gone) == [(Change.ENDED, WarningState.UPDATED, "yellow")]


def test_several_info_blocks_chinese_preferred_area_from_any() -> None:
    en = info(language="en-US", event="Gale", code=None, headline="Gale Orange Warning", areas="")
    zh = info(areas=area("外地", polygon=ELSEWHERE) + area("朝阳", polygon=None, geocode="110105"))
    b = book()
    apply(b, alert(infos=en + zh))
    (record,) = b.records.values()
    assert record.language == "zh-CN" and record.headline.startswith("北京") and record.colour == "yellow"
    assert record.in_force


def test_a_gb18030_document() -> None:
    document = alert(declaration='<?xml version="1.0" encoding="GB18030"?>').encode("gb18030")
    b = book()
    (applied,) = b.apply(parse_cap(document), T0)
    assert applied.record.event == "gale" and applied.record.headline == "北京市气象台发布大风黄色预警信号"
