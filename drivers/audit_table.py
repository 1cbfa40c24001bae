"""The audit trail as the stores keep it: append-only rows of when, who, what, a note and a JSON
detail, after the columns that name what the entry is about (an alarm, a warning, a baseline)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Subject = tuple[Any, ...]  # the values of the subject columns

_ENTRY = ("ts", "actor", "action", "note", "detail")


@dataclass(frozen=True, slots=True)
class AuditTable:
    name: str
    subject: tuple[str, ...]  # the columns naming what an entry is about
    index: str

    @property
    def schema(self) -> str:
        subject = "".join(f"    {column} TEXT NOT NULL,\n" for column in self.subject)
        return (
            f"CREATE TABLE IF NOT EXISTS {self.name} (\n"
            "    seq INTEGER PRIMARY KEY AUTOINCREMENT,\n"
            f"{subject}"
            "    ts REAL NOT NULL,\n"
            "    actor TEXT NOT NULL,\n"
            "    action TEXT NOT NULL,\n"
            "    note TEXT NOT NULL,\n"
            "    detail TEXT NOT NULL\n"
            ");\n"
            f"CREATE INDEX IF NOT EXISTS {self.index} ON {self.name}({', '.join(self.subject)}, seq);\n"
        )

    def append(
        self, db: sqlite3.Connection, entries: Iterable[tuple[tuple[Any, ...], Mapping[str, Any]]]
    ) -> None:
        """Each (subject values, entry); in the caller's transaction."""
        columns = (*self.subject, *_ENTRY)
        db.executemany(
            f"INSERT INTO {self.name}({', '.join(columns)}) VALUES ({','.join('?' * len(columns))})",
            [
                (
                    *about,
                    float(e["ts"]),
                    str(e["actor"]),
                    str(e["action"]),
                    str(e.get("note", "")),
                    json.dumps(e.get("detail", {}), ensure_ascii=False),
                )
                for about, e in entries
            ],
        )

    def trail(self, db: sqlite3.Connection, about: Subject) -> list[dict[str, Any]]:
        """The entries about one subject, oldest first."""
        where = " AND ".join(f"{column} = ?" for column in self.subject)
        cur = db.execute(f"SELECT {', '.join(_ENTRY)} FROM {self.name} WHERE {where} ORDER BY seq", about)
        return [
            {"ts": ts, "actor": actor, "action": action, "note": note, "detail": json.loads(detail)}
            for ts, actor, action, note, detail in cur
        ]
