"""Random chains of CAP messages through the warning lifecycle (hypothesis, bounded): never a crash,
and the book's invariants hold after every message and every expiry."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.cap.area import SiteLocation
from drivers.cap.codes import WarningCodes
from drivers.cap.lifecycle import WarningBook, message_key
from drivers.cap.parse import CapError, parse_cap
from drivers.cap.warning import WarningState
from tests.drivers.cap.documents import ELSEWHERE, SENDER, alert, area, info

T0 = datetime(2026, 12, 2, tzinfo=UTC).timestamp()
STATUSES = ["Actual", "Actual", "Actual", "Test", "Exercise", "Draft"]
TYPES = ["Alert", "Alert", "Update", "Update", "Cancel", "Ack", "Error"]

step = st.tuples(
    st.sampled_from(TYPES),
    st.sampled_from(STATUSES),
    st.lists(st.integers(0, 30), max_size=3),  # which earlier messages it references
    st.sampled_from(["11B0601", "11B0602", "11B0303", "11B0104", None]),
    st.integers(-2, 30),  # expires, hours after sending (negative: already past)
    st.booleans(),  # area holds the site
    st.integers(0, 4 * 3600),  # seconds until the next message
)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


@settings(max_examples=200, deadline=None)
@given(st.lists(step, min_size=1, max_size=25))
def test_random_chains_keep_the_invariants(steps: list[tuple]) -> None:  # type: ignore[type-arg]
    book = WarningBook(SiteLocation(39.9, 116.4), WarningCodes.default())
    sent: list[tuple[str, float, bool]] = []  # identifier, sent, real
    now = T0
    for n, (msg_type, status, refs, code, expires_h, inside, wait) in enumerate(steps):
        ident = f"M{n}"
        references = " ".join(f"{SENDER},{sent[i][0]},{iso(sent[i][1])}" for i in refs if i < len(sent))
        body = info(code=code, expires=iso(now + expires_h * 3600),
                    areas=area() if inside else area("外地", polygon=ELSEWHERE))  # fmt: skip
        document = alert(ident, iso(now), msg_type, status, references, body if msg_type != "Cancel" else "")
        book.apply(parse_cap(document.encode()), now)
        sent.append((ident, now, status == "Actual"))
        now += wait
        book.expire(now)
        for record in book.records.values():
            if record.in_force:
                assert record.status == "Actual" and record.area["applies"] and not record.not_acted
                assert record.state in WarningState.LIVE
                assert record.expires is not None and record.expires > now
            # Every message applied finds a record it changed (a Cancel of several: one of them);
            # real and not-real never mix.
            realness = {r for i, t, r in sent if message_key(SENDER, i, t) in record.messages}
            assert len(realness) == 1
            for key in record.messages:
                found = book.find_key(key)
                assert found is not None and key in found.messages
        assert len(book.records) <= len(sent)


def _any_time(moment: datetime, offset_min: int) -> str:
    from datetime import timedelta, timezone

    return moment.replace(tzinfo=timezone(timedelta(minutes=offset_min))).isoformat()


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(),
    st.integers(-23 * 60, 23 * 60),
    st.datetimes(),
    st.integers(-23 * 60, 23 * 60),
    st.sampled_from(["Alert", "Update", "Cancel"]),
)
def test_any_iso_times_are_applied_or_refused_never_a_crash(
    sent: datetime, sent_off: int, expires: datetime, exp_off: int, msg_type: str
) -> None:
    book = WarningBook(SiteLocation(39.9, 116.4), WarningCodes.default())
    document = alert(
        "T1",
        _any_time(sent, sent_off),
        msg_type,
        references=f"{SENDER},W0,{_any_time(expires, exp_off)}" if msg_type != "Alert" else "",
        infos=info(expires=_any_time(expires, exp_off)),
    )
    try:
        applied = book.apply(parse_cap(document.encode()), T0)
    except CapError as exc:
        assert exc.reason == "bad_date"
        return
    for a in applied:
        a.record.view()  # every time in it can be shown
