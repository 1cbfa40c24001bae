"""CAP 1.2 documents (OASIS Common Alerting Protocol) to typed records, refusing hostile XML.

defusedxml refuses DTDs, entity declarations and external references, so nothing is expanded and
nothing is fetched; the size is checked before parsing. The encoding comes from the XML declaration
(expat decodes GB18030/GBK-declared documents through Python's codecs).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
MAX_BYTES = 1024 * 1024
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_Q = "{" + CAP_NS + "}"
STATUSES = frozenset({"Actual", "Exercise", "System", "Test", "Draft"})
MSG_TYPES = frozenset({"Alert", "Update", "Cancel", "Ack", "Error"})
SCOPES = frozenset({"Public", "Restricted", "Private"})
_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]{1,40})[\"'][^>]*\?>")
# Languages in order of preference; a missing language means en-US per the CAP spec.
PREFERRED_LANGUAGES = ("zh", "en")


class CapError(ValueError):
    """A refused CAP document; `reason` is a short machine-readable word, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Reference:
    sender: str
    identifier: str
    sent: datetime


@dataclass(frozen=True, slots=True)
class Area:
    description: str
    polygons: tuple[tuple[tuple[float, float], ...], ...]  # (lat, lon) rings
    circles: tuple[tuple[float, float, float], ...]  # (lat, lon, radius km)
    geocodes: tuple[tuple[str, str], ...]  # (valueName, value)


@dataclass(frozen=True, slots=True)
class Info:
    language: str
    event: str
    urgency: str
    severity: str
    certainty: str
    event_codes: tuple[tuple[str, str], ...]
    effective: datetime | None
    onset: datetime | None
    expires: datetime | None
    headline: str
    description: str
    instruction: str
    areas: tuple[Area, ...]


@dataclass(frozen=True, slots=True)
class Alert:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    references: tuple[Reference, ...]
    infos: tuple[Info, ...]

    def preferred_info(self) -> Info | None:
        """The zh block if any, else en, else the first."""
        for prefix in PREFERRED_LANGUAGES:
            for info in self.infos:
                if info.language.lower().startswith(prefix):
                    return info
        return self.infos[0] if self.infos else None


def parse_cap(document: bytes) -> Alert:
    """Parse one CAP 1.2 alert; raises CapError naming the reason on any refusal."""
    if len(document) > MAX_BYTES:
        raise CapError("too_large", f"{len(document)} bytes > {MAX_BYTES}")
    document = _as_utf8(document)
    try:
        root = safe_et.fromstring(document, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise CapError("forbidden_xml", type(exc).__name__) from exc
    except (ParseError, LookupError, UnicodeError, ValueError) as exc:
        raise CapError("malformed_xml", str(exc)[:200]) from exc
    if root.tag != _Q + "alert":
        raise CapError("wrong_namespace", f"root is {root.tag[:120]!r}, expected CAP 1.2 alert")
    status = _enum(root, "status", STATUSES)
    msg_type = _enum(root, "msgType", MSG_TYPES)
    return Alert(
        identifier=_required(root, "identifier"),
        sender=_required(root, "sender"),
        sent=_time(_required(root, "sent"), "sent"),
        status=status,
        msg_type=msg_type,
        scope=_enum(root, "scope", SCOPES),
        references=_references(_text(root, "references")),
        infos=tuple(_info(el) for el in root.findall(_Q + "info")),
    )


def _as_utf8(document: bytes) -> bytes:
    """Expat decodes only single-byte encodings itself; GB18030/GBK go through Python's codecs."""
    match = _DECLARATION.match(document)
    if match is None:
        return document
    name = match.group(1).decode("ascii")
    try:
        codec = codecs.lookup(name).name
    except LookupError as exc:
        raise CapError("bad_encoding", f"unknown encoding {name!r}") from exc
    if codec in ("utf-8", "ascii"):
        return document
    try:
        text = document[match.end() :].decode(codec)
    except UnicodeDecodeError as exc:
        raise CapError("bad_encoding", f"not valid {name}: {exc.reason}") from exc
    return text.encode("utf-8")


def _text(el: Element, name: str) -> str:
    child = el.find(_Q + name)
    return (child.text or "").strip() if child is not None else ""


def _required(el: Element, name: str) -> str:
    value = _text(el, name)
    if not value:
        raise CapError("missing_element", f"<{name}> is required")
    return value


def _enum(el: Element, name: str, allowed: frozenset[str]) -> str:
    value = _required(el, name)
    if value not in allowed:
        raise CapError("bad_value", f"<{name}> {value[:40]!r} not in {sorted(allowed)}")
    return value


def _time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CapError("bad_date", f"<{name}> {value[:40]!r}") from exc
    if parsed.tzinfo is None:
        raise CapError("bad_date", f"<{name}> {value[:40]!r} has no UTC offset")
    # Year 1 at +01:00 or 9999 at -01:00 lies outside what a UTC time can show; no warning means it.
    try:
        utc = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise CapError("bad_date", f"<{name}> {value[:40]!r} is not between 1970 and 2100")
    return parsed


def _optional_time(el: Element, name: str) -> datetime | None:
    value = _text(el, name)
    return _time(value, name) if value else None


def _references(value: str) -> tuple[Reference, ...]:
    refs = []
    for token in value.split():
        parts = token.split(",")
        if len(parts) != 3:
            raise CapError("bad_references", f"{token[:80]!r} is not sender,identifier,sent")
        refs.append(Reference(parts[0], parts[1], _time(parts[2], "references")))
    return tuple(refs)


def _pairs(el: Element, name: str) -> tuple[tuple[str, str], ...]:
    return tuple((_text(c, "valueName"), _text(c, "value")) for c in el.findall(_Q + name))


def _point(token: str) -> tuple[float, float]:
    lat, lon = (float(x) for x in token.split(","))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(token)
    return lat, lon


def _area(el: Element) -> Area:
    try:
        polygons = tuple(tuple(_point(t) for t in (p.text or "").split()) for p in el.findall(_Q + "polygon"))
        circles = []
        for c in el.findall(_Q + "circle"):
            centre, radius = (c.text or "").split()
            circles.append((*_point(centre), float(radius)))
    except ValueError as exc:
        raise CapError("bad_area", f"polygon or circle: {str(exc)[:80]}") from exc
    if any(len(p) < 4 for p in polygons):
        raise CapError("bad_area", "a polygon needs at least four points")
    return Area(_required(el, "areaDesc"), polygons, tuple(circles), _pairs(el, "geocode"))


def _info(el: Element) -> Info:
    return Info(
        language=_text(el, "language") or "en-US",
        event=_required(el, "event"),
        urgency=_required(el, "urgency"),
        severity=_required(el, "severity"),
        certainty=_required(el, "certainty"),
        event_codes=_pairs(el, "eventCode"),
        effective=_optional_time(el, "effective"),
        onset=_optional_time(el, "onset"),
        expires=_optional_time(el, "expires"),
        headline=_text(el, "headline"),
        description=_text(el, "description"),
        instruction=_text(el, "instruction"),
        areas=tuple(_area(a) for a in el.findall(_Q + "area")),
    )
