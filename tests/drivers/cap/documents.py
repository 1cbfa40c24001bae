"""Hand-written CAP 1.2 documents for the weather tests: one builder, every part settable."""

from __future__ import annotations

NS = "urn:oasis:names:tc:emergency:cap:1.2"
SENDER = "bj@weather.example.cn"

# A square around a site at (39.90, 116.40), Beijing; and one far south of it.
AROUND_SITE = "39.8,116.3 39.8,116.5 40.0,116.5 40.0,116.3 39.8,116.3"
ELSEWHERE = "30.0,120.0 30.0,121.0 31.0,121.0 31.0,120.0 30.0,120.0"


def area(desc: str = "朝阳区", polygon: str | None = AROUND_SITE, circle: str | None = None,
         geocode: str | None = None) -> str:  # fmt: skip
    parts = [f"<areaDesc>{desc}</areaDesc>"]
    if polygon:
        parts.append(f"<polygon>{polygon}</polygon>")
    if circle:
        parts.append(f"<circle>{circle}</circle>")
    if geocode:
        parts.append(f"<geocode><valueName>GB2260</valueName><value>{geocode}</value></geocode>")
    return "<area>" + "".join(parts) + "</area>"


def info(
    event: str = "大风",
    code: str | None = "11B0602",
    headline: str = "北京市气象台发布大风黄色预警信号",
    language: str = "zh-CN",
    severity: str = "Moderate",
    expires: str | None = "2026-12-02T20:00:00+08:00",
    areas: str | None = None,
) -> str:
    code_el = f"<eventCode><valueName>GB</valueName><value>{code}</value></eventCode>" if code else ""
    expires_el = f"<expires>{expires}</expires>" if expires else ""
    return (
        f"<info><language>{language}</language><category>Met</category><event>{event}</event>"
        f"<urgency>Expected</urgency><severity>{severity}</severity><certainty>Likely</certainty>"
        f"{code_el}{expires_el}<headline>{headline}</headline>"
        f"<description>预计未来12小时平均风力可达8级</description>"
        f"{area() if areas is None else areas}</info>"
    )


def alert(
    identifier: str = "W1",
    sent: str = "2026-12-02T08:00:00+08:00",
    msg_type: str = "Alert",
    status: str = "Actual",
    references: str = "",
    infos: str | None = None,
    sender: str = SENDER,
    declaration: str = "",
) -> str:
    refs = f"<references>{references}</references>" if references else ""
    return (
        f'{declaration}<alert xmlns="{NS}"><identifier>{identifier}</identifier><sender>{sender}</sender>'
        f"<sent>{sent}</sent><status>{status}</status><msgType>{msg_type}</msgType><scope>Public</scope>"
        f"{refs}{info() if infos is None else infos}</alert>"
    )


def ref(identifier: str = "W1", sent: str = "2026-12-02T08:00:00+08:00", sender: str = SENDER) -> str:
    return f"{sender},{identifier},{sent}"
