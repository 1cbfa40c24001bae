"""The platform's side of an official weather warning: CAP 1.2 documents for a scenario.

A :class:`~simulators.scenario.WarningSpec` becomes an Alert sent at its time (GB/T 35561-style
event code with the colour suffix, zh headline, no area: the sender's region, so it covers the
site) and, with ``cancel_at_s``, a Cancel referencing it. Times are data times (``start_ts`` +
scenario seconds), as the devices' readings are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from simulators.scenario import WarningSpec

NS = "urn:oasis:names:tc:emergency:cap:1.2"
SENDER = "simulated-platform@example.cn"
CODES = {"typhoon": "11B01", "rainstorm": "11B03", "snow": "11B04", "gale": "11B06", "heat": "11B09",
         "thunder": "11B14", "thunderstorm_gale": "11B20"}  # fmt: skip
COLOURS = {"blue": ("01", "蓝色"), "yellow": ("02", "黄色"), "orange": ("03", "橙色"), "red": ("04", "红色")}
ZH = {"typhoon": "台风", "rainstorm": "暴雨", "snow": "暴雪", "gale": "大风", "heat": "高温",
      "thunder": "雷电", "thunderstorm_gale": "雷雨大风"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SentDocument:
    t_s: float  # scenario time it is sent at
    body: bytes


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def documents(warnings: list[WarningSpec], start_ts: float) -> list[SentDocument]:
    """Every document the platform sends, in time order."""
    out = []
    for n, w in enumerate(warnings):
        identifier, sent = f"SIM-{n}", start_ts + w.at_s
        suffix, colour_zh = COLOURS[w.colour]
        headline = f"{ZH[w.event]}{colour_zh}预警信号"
        info = (
            f"<info><language>zh-CN</language><category>Met</category><event>{ZH[w.event]}</event>"
            "<urgency>Expected</urgency><severity>Moderate</severity><certainty>Likely</certainty>"
            f"<eventCode><valueName>GB</valueName><value>{CODES[w.event]}{suffix}</value></eventCode>"
            f"<expires>{_iso(sent + w.expires_after_s)}</expires><headline>{headline}</headline></info>"
        )
        out.append(SentDocument(w.at_s, _alert(identifier, sent, "Alert", "", info)))
        if w.cancel_at_s is not None:
            refs = f"<references>{SENDER},{identifier},{_iso(sent)}</references>"
            cancel = _alert(f"{identifier}-cancel", start_ts + w.cancel_at_s, "Cancel", refs, "")
            out.append(SentDocument(w.cancel_at_s, cancel))
    return sorted(out, key=lambda d: d.t_s)


def _alert(identifier: str, sent: float, msg_type: str, references: str, info: str) -> bytes:
    return (
        f'<alert xmlns="{NS}"><identifier>{identifier}</identifier><sender>{SENDER}</sender>'
        f"<sent>{_iso(sent)}</sent><status>Actual</status><msgType>{msg_type}</msgType>"
        f"<scope>Public</scope>{references}{info}</alert>"
    ).encode()
