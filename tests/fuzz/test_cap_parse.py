"""Fuzzing the CAP parser (hypothesis, bounded): any bytes give an Alert or a CapError, never a crash."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.cap.parse import Alert, CapError, parse_cap

NS = "urn:oasis:names:tc:emergency:cap:1.2"
_TEXT = st.text(max_size=40)


def _outcome(document: bytes) -> None:
    try:
        assert isinstance(parse_cap(document), Alert)
    except CapError as exc:
        assert exc.reason


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(document: bytes) -> None:
    _outcome(document)


@settings(max_examples=150, deadline=None)
@given(_TEXT, _TEXT, _TEXT, _TEXT, _TEXT, _TEXT)
def test_structured_alert_with_hostile_fields(ident, sent, status, msg, refs, polygon) -> None:  # type: ignore[no-untyped-def]
    from xml.sax.saxutils import escape

    doc = (
        f'<alert xmlns="{NS}"><identifier>{escape(ident)}</identifier><sender>s</sender>'
        f"<sent>{escape(sent)}</sent><status>{escape(status)}</status><msgType>{escape(msg)}</msgType>"
        f"<scope>Public</scope><references>{escape(refs)}</references><info><event>e</event>"
        "<urgency>u</urgency><severity>s</severity><certainty>c</certainty><area><areaDesc>a</areaDesc>"
        f"<polygon>{escape(polygon)}</polygon><circle>{escape(polygon)}</circle></area></info></alert>"
    )
    _outcome(doc.encode("utf-8", "surrogatepass"))
