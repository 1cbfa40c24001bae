"""Official warnings through their lifecycle: CAP messages and the clock applied to the records.

Pure bookkeeping (no I/O, the time is passed in):

- an ``Alert`` opens a warning; the same message offered twice changes nothing;
- an ``Update`` replaces the content of the warning it references (the newest, if it references
  several: the others end as superseded); one referencing nothing known opens a warning;
- a ``Cancel`` ends every warning it references;
- ``Ack`` and ``Error`` messages, and anything not ``Actual`` (Test, Exercise, Draft, System), are
  recorded and never acted on; a message that is not real never touches a real warning, nor the
  other way round;
- a warning ends at its ``expires`` (CAP: the preferred info block's); one without any is given
  ``default_life_s`` from its sending, so nothing stays in force for ever;
- the area decides whether a warning covers the site (``drivers.cap.area``); an Update may move it
  in or out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from drivers.cap.area import SiteLocation, match_infos
from drivers.cap.codes import WarningCodes
from drivers.cap.parse import Alert
from drivers.cap.warning import Change, WarningRecord, WarningState
from gateway.vocab import iso_utc

DEFAULT_LIFE_S = 24 * 3600.0
REAL = "Actual"


@dataclass(frozen=True, slots=True)
class Applied:
    """One warning a message (or the clock) changed, and how: a ``Change`` kind."""

    record: WarningRecord
    change: str
    note: str = ""


def message_key(sender: str, identifier: str, sent_epoch: float) -> str:
    """CAP's reference triple, with the time in one spelling (feeds write offsets differently)."""
    return f"{sender},{identifier},{iso_utc(sent_epoch)}"


class WarningBook:
    def __init__(
        self,
        site: SiteLocation | None,
        codes: WarningCodes,
        default_life_s: float = DEFAULT_LIFE_S,
    ) -> None:
        self.site = site
        self.codes = codes
        self.default_life_s = default_life_s
        self.records: dict[str, WarningRecord] = {}
        self._by_key: dict[str, str] = {}  # message key -> record id

    def load(self, records: Iterable[WarningRecord]) -> None:
        """Records from the store (after a restart)."""
        for record in records:
            self._add(record)

    def _add(self, record: WarningRecord) -> None:
        self.records[record.id] = record
        for key in record.messages:
            self._by_key[key] = record.id

    def find_key(self, key: str) -> WarningRecord | None:
        found = self._by_key.get(key)
        return self.records.get(found) if found is not None else None

    def apply(self, alert: Alert, now: float) -> list[Applied]:
        key = message_key(alert.sender, alert.identifier, alert.sent.timestamp())
        known = self.find_key(key)
        if known is not None:
            return [Applied(known, Change.RECORDED, "duplicate")]
        real = alert.status == REAL
        referenced = self._referenced(alert, real)
        if alert.msg_type in ("Ack", "Error"):
            record = self._open(alert, key, now)
            record.not_acted = alert.msg_type.lower()
            return [Applied(record, Change.RECORDED)]
        if alert.msg_type == "Cancel":
            if not referenced:
                record = self._open(alert, key, now)
                record.state, record.ended_at, record.end_reason = WarningState.CANCELLED, now, "cancelled"
                record.not_acted = record.not_acted or "cancels_unknown"
                return [Applied(record, Change.RECORDED, "references no known warning")]
            return [self._end(r, now, WarningState.CANCELLED, "cancelled", key, alert) for r in referenced]
        if alert.msg_type == "Update" and referenced:
            newest, *older = sorted(referenced, key=lambda r: r.updated_at, reverse=True)
            changes = [self._end(r, now, WarningState.CANCELLED, "superseded", key, alert) for r in older]
            return [self._update(newest, alert, key, now), *changes]
        record = self._open(alert, key, now)
        note = "update of a warning not known here" if alert.msg_type == "Update" else ""
        return [Applied(record, Change.ISSUED if record.in_force else Change.RECORDED, note)]

    def expire(self, now: float) -> list[Applied]:
        """Warnings whose time is up, ended."""
        out = []
        for record in list(self.records.values()):
            if record.state in WarningState.LIVE and record.expires is not None and record.expires <= now:
                was = record.in_force
                record.state, record.ended_at, record.end_reason = WarningState.EXPIRED, now, "expired"
                record.updated_at = now
                out.append(Applied(record, Change.ENDED if was else Change.RECORDED, "expired"))
        return out

    def forget_before(self, cutoff: float) -> None:
        """Drop ended warnings last changed before ``cutoff`` from memory (the store keeps them)."""
        for record in list(self.records.values()):
            if record.state not in WarningState.LIVE and record.updated_at < cutoff:
                del self.records[record.id]
                for key in record.messages:
                    self._by_key.pop(key, None)

    # Inside

    def _referenced(self, alert: Alert, real: bool) -> list[WarningRecord]:
        found: dict[str, WarningRecord] = {}
        for ref in alert.references:
            record = self.find_key(message_key(ref.sender, ref.identifier, ref.sent.timestamp()))
            if record is not None and (record.status == REAL) == real and not record.local:
                found[record.id] = record
        return list(found.values())

    def _open(self, alert: Alert, key: str, now: float) -> WarningRecord:
        record = WarningRecord(
            id=uuid.uuid4().hex,
            sender=alert.sender,
            identifier=alert.identifier,
            local=False,
            status=alert.status,
            msg_type=alert.msg_type,
            event=None,
            colour=None,
            state=WarningState.RECEIVED,
            received_at=now,
            updated_at=now,
        )
        if alert.status != REAL:
            record.not_acted = alert.status.lower()
        self._fill(record, alert, now)
        record.messages.append(key)
        self._add(record)
        return record

    def _update(self, record: WarningRecord, alert: Alert, key: str, now: float) -> Applied:
        was = record.in_force
        record.status, record.msg_type = alert.status, alert.msg_type
        record.state = WarningState.UPDATED
        record.updated_at = now
        self._fill(record, alert, now)
        record.messages.append(key)
        self._by_key[key] = record.id
        if was and record.in_force:
            return Applied(record, Change.UPDATED)
        if record.in_force:
            return Applied(record, Change.ISSUED)
        if was:
            record.end_reason = record.not_acted or record.state
            return Applied(record, Change.ENDED, record.end_reason)
        return Applied(record, Change.RECORDED)

    def _end(
        self, record: WarningRecord, now: float, state: str, reason: str, key: str, alert: Alert
    ) -> Applied:
        was = record.in_force
        if record.state in WarningState.LIVE:
            record.state, record.ended_at, record.end_reason = state, now, reason
        record.msg_type, record.updated_at = alert.msg_type, now
        record.messages.append(key)
        self._by_key[key] = record.id
        return Applied(record, Change.ENDED if was else Change.RECORDED, reason)

    def _fill(self, record: WarningRecord, alert: Alert, now: float) -> None:
        """Content from the message: the preferred (zh, then en) info block; area from all blocks."""
        info = alert.preferred_info()
        match = match_infos(alert.infos, self.site)
        record.area = match.as_dict()
        if alert.status == REAL:
            record.not_acted = "" if match.applies else "outside"
        if info is None:
            return
        kind = self.codes.classify(info)
        if kind.event is None:  # another language's block may name it
            kind = next((k for k in map(self.codes.classify, alert.infos) if k.event), kind)
        record.event, record.colour = kind.event, kind.colour
        record.event_name, record.headline = info.event, info.headline
        record.description, record.instruction = info.description, info.instruction
        record.language, record.severity = info.language, info.severity
        record.urgency, record.certainty = info.urgency, info.certainty
        record.onset = _epoch(info.onset or info.effective)
        record.expires = _epoch(info.expires) or alert.sent.timestamp() + self.default_life_s
        if record.expires <= now and record.state in WarningState.LIVE:
            record.state, record.ended_at, record.end_reason = WarningState.EXPIRED, now, "expired"


def _epoch(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None
