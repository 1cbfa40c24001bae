"""CAP 1.2 parser: real documents parse to typed records, hostile ones are refused by reason."""

from __future__ import annotations

import http.server
import threading
from datetime import UTC, datetime

import pytest

from drivers.cap.parse import MAX_BYTES, CapError, parse_cap

NS = "urn:oasis:names:tc:emergency:cap:1.2"


def cap(msg_type: str = "Alert", status: str = "Actual", extra: str = "", infos: str = "") -> str:
    info = infos or (
        "<info><language>zh-CN</language><event>大风</event><urgency>Expected</urgency>"
        "<severity>Moderate</severity><certainty>Likely</certainty>"
        "<eventCode><valueName>GB</valueName><value>11B0602</value></eventCode>"
        "<expires>2026-12-02T20:00:00+08:00</expires><headline>大风黄色预警</headline>"
        "<area><areaDesc>浦东新区</areaDesc>"
        "<polygon>31.0,121.0 31.0,122.0 32.0,122.0 31.0,121.0</polygon>"
        "<circle>31.2,121.5 10</circle>"
        "<geocode><valueName>GB2260</valueName><value>310115</value></geocode></area></info>"
    )
    return (
        f'<alert xmlns="{NS}"><identifier>W1</identifier><sender>cma@example.cn</sender>'
        f"<sent>2026-12-02T08:00:00+08:00</sent><status>{status}</status>"
        f"<msgType>{msg_type}</msgType><scope>Public</scope>{extra}{info}</alert>"
    )


def refused(document: bytes) -> str:
    """The reason parse_cap gives for refusing ``document``."""
    with pytest.raises(CapError) as err:
        parse_cap(document)
    return err.value.reason


def test_alert_parses_to_typed_record() -> None:
    alert = parse_cap(cap().encode())
    assert alert.identifier == "W1" and alert.msg_type == "Alert" and alert.status == "Actual"
    assert alert.sent == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    info = alert.preferred_info()
    assert info is not None and info.event == "大风"
    assert info.event_codes == (("GB", "11B0602"),)
    area = info.areas[0]
    assert area.polygons[0][1] == (31.0, 122.0)
    assert area.circles == ((31.2, 121.5, 10.0),)
    assert area.geocodes == (("GB2260", "310115"),)


@pytest.mark.parametrize("msg_type", ["Alert", "Update", "Cancel", "Ack", "Error"])
def test_every_msg_type(msg_type: str) -> None:
    assert parse_cap(cap(msg_type).encode()).msg_type == msg_type


def test_references_parsed() -> None:
    refs = "<references>cma@example.cn,W0,2026-12-02T07:00:00+08:00 a,b,2026-12-02T07:30:00Z</references>"
    alert = parse_cap(cap("Update", extra=refs).encode())
    assert [r.identifier for r in alert.references] == ["W0", "b"]
    assert (
        refused(cap("Update", extra="<references>only-two,parts</references>").encode()) == "bad_references"
    )


def test_prefers_zh_then_en() -> None:
    def block(lang: str, event: str) -> str:
        return (
            f"<info><language>{lang}</language><event>{event}</event><urgency>Expected</urgency>"
            "<severity>Minor</severity><certainty>Likely</certainty></info>"
        )

    both = parse_cap(
        cap(infos=block("fr-FR", "vent") + block("en-US", "gale") + block("zh-CN", "大风")).encode()
    )
    assert both.preferred_info().event == "大风"  # type: ignore[union-attr]
    en = parse_cap(cap(infos=block("fr-FR", "vent") + block("en-US", "gale")).encode())
    assert en.preferred_info().event == "gale"  # type: ignore[union-attr]


def test_gb18030_declared_document() -> None:
    text = cap().replace("<alert", '<?xml version="1.0" encoding="GB18030"?><alert', 1)
    alert = parse_cap(text.encode("gb18030"))
    assert alert.preferred_info().headline == "大风黄色预警"  # type: ignore[union-attr]


def test_billion_laughs_refused() -> None:
    doc = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        f'<alert xmlns="{NS}">&lol2;</alert>'
    )
    assert refused(doc.encode()) == "forbidden_xml"


def test_external_entity_refused_and_nothing_fetched() -> None:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"secret")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/x"
        doc = f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "{url}">]><alert xmlns="{NS}">&x;</alert>'
        assert refused(doc.encode()) == "forbidden_xml"
        dtd = f'<?xml version="1.0"?><!DOCTYPE alert SYSTEM "{url}"><alert xmlns="{NS}"/>'
        with pytest.raises(CapError):
            parse_cap(dtd.encode())
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert hits == []


def test_too_large_refused() -> None:
    doc = cap().replace("</alert>", "<note>" + "x" * (10 * MAX_BYTES) + "</note></alert>")
    assert refused(doc.encode()) == "too_large"


def test_wrong_namespace_refused() -> None:
    assert refused(cap().replace("cap:1.2", "cap:1.1").encode()) == "wrong_namespace"


@pytest.mark.parametrize(
    "sent",
    [
        "2026-13-02T08:00:00+08:00",
        "yesterday",
        "2026-12-02T08:00:00",
        # Valid ISO 8601, but no UTC time can show them (and no warning means them).
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "1969-12-31T23:59:59Z",
        "2100-01-01T00:00:01Z",
    ],
)
def test_bad_dates_refused(sent: str) -> None:
    assert refused(cap().replace("2026-12-02T08:00:00+08:00", sent).encode()) == "bad_date"


def test_missing_required_and_bad_enum() -> None:
    assert refused(cap().replace("<identifier>W1</identifier>", "").encode()) == "missing_element"
    assert refused(cap(status="Real").encode()) == "bad_value"


def test_malformed_and_bad_area() -> None:
    assert refused(b"<alert") == "malformed_xml"
    assert refused(cap().replace("31.2,121.5 10", "91,0 1").encode()) == "bad_area"


def test_bad_declared_encoding_refused() -> None:
    assert refused(b'<?xml version="1.0" encoding="no-such-codec"?><alert/>') == "bad_encoding"
    assert refused(b'<?xml version="1.0" encoding="GBK"?><alert>\xff\xff\xff</alert>') == "bad_encoding"
