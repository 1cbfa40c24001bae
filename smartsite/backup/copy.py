"""Online, consistent copies of the site's SQLite stores, and putting them back.

A backup uses SQLite's online backup API, a few hundred pages per step, so a running gateway goes on
storing while it is copied and the copy is one consistent snapshot of each file (a plain file copy of
a WAL database can be torn). Each copy is checked (``PRAGMA integrity_check``) and described in
``manifest.json`` with its SHA-256; the manifest is written last, so a folder without one is an
unfinished backup and restore refuses it.

Restore refuses while a gateway holds the site's lock, checks every copy against the manifest and the
site id, keeps the files it replaces beside them (``*.before-restore``) and swaps each file in with a
rename, so an interrupted restore never leaves a half-written store.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from gateway.config import SiteConfig
from gateway.process.instance_lock import InstanceLock, InstanceLockedError, site_lock_path
from gateway.storage.paths import alarm_store_path, reading_store_path
from gateway.vocab import iso_utc

MANIFEST = "manifest.json"
FORMAT = 1
PAGES_PER_STEP = 256  # ~1 MB at the default page size: the gateway's writer waits at most that long


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class StoreFile:
    name: str  # "alarms" or "readings": the key in the manifest
    path: Path


def site_stores(config: SiteConfig, base_dir: Path) -> list[StoreFile]:
    return [
        StoreFile("alarms", alarm_store_path(config, base_dir)),
        StoreFile("readings", reading_store_path(config, base_dir)),
    ]


def backup(config: SiteConfig, base_dir: Path, target: Path) -> dict[str, object]:
    """Copy every existing store of the site into ``target`` (new or empty); returns the manifest."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} exists and is not an empty folder: a backup never overwrites")
    stores = [s for s in site_stores(config, base_dir) if s.path.exists()]
    if not stores:
        raise BackupError(f"site {config.site.id} has no store yet under {base_dir}: nothing to back up")
    target.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, object]] = {}
    for store in stores:
        copy = target / f"{store.name}.db"
        _online_copy(store.path, copy)
        files[store.name] = {
            "file": copy.name,
            "source": str(store.path),
            "bytes": copy.stat().st_size,
            "sha256": _sha256(copy),
        }
    manifest: dict[str, object] = {
        "format": FORMAT,
        "site": config.site.id,
        "created": iso_utc(time.time()),
        "files": files,
    }
    tmp = target / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target / MANIFEST)
    return manifest


def restore(config: SiteConfig, base_dir: Path, source: Path) -> list[Path]:
    """Put a backup's files in place of the site's stores; returns the paths restored."""
    manifest = _read_manifest(source)
    if manifest.get("site") != config.site.id:
        raise BackupError(f"{source} is a backup of site {manifest.get('site')!r}, not {config.site.id!r}")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BackupError(f"{source / MANIFEST}: no files listed")
    stores = {s.name: s.path for s in site_stores(config, base_dir)}
    plan: list[tuple[Path, Path]] = []
    for name, entry in files.items():
        if name not in stores or not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise BackupError(f"{source / MANIFEST}: unknown or malformed entry {name!r}")
        copy = source / Path(entry["file"]).name  # never a path outside the backup folder
        if not copy.is_file():
            raise BackupError(f"{copy} is missing")
        if _sha256(copy) != entry.get("sha256"):
            raise BackupError(f"{copy} does not match its checksum in the manifest: damaged backup")
        _check_integrity(copy)
        plan.append((copy, stores[name]))
    lock = InstanceLock(site_lock_path(stores["alarms"]))
    try:
        lock.acquire()
    except InstanceLockedError as exc:
        raise BackupError(f"{exc}; stop the gateway before restoring") from None
    try:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        for copy, live in plan:
            _swap_in(copy, live, stamp)
    finally:
        lock.release()
    return [live for _, live in plan]


def _online_copy(source: Path, copy: Path) -> None:
    src = sqlite3.connect(source, timeout=10.0)
    dst = sqlite3.connect(copy)
    try:
        src.backup(dst, pages=PAGES_PER_STEP, sleep=0.005)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy {source}: {exc}") from None
    finally:
        dst.close()
        src.close()
    _check_integrity(copy)


def _check_integrity(path: Path) -> None:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            verdict = db.execute("PRAGMA integrity_check").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{path} is not a readable SQLite store: {exc}") from None
    if verdict is None or verdict[0] != "ok":
        raise BackupError(f"{path} failed its integrity check: {verdict}")


def _swap_in(copy: Path, live: Path, stamp: str) -> None:
    live.parent.mkdir(parents=True, exist_ok=True)
    staged = live.with_name(live.name + ".restoring")
    shutil.copyfile(copy, staged)
    with open(staged, "rb") as f:
        os.fsync(f.fileno())
    if live.exists():
        # What is replaced is kept as one self-contained file (its WAL folded in), not lost.
        _online_copy(live, live.with_name(f"{live.name}.before-restore-{stamp}"))
    for suffix in ("-wal", "-shm"):  # the old file's log must not be replayed into the restored one
        live.with_name(live.name + suffix).unlink(missing_ok=True)
    os.replace(staged, live)


def _read_manifest(source: Path) -> dict[str, object]:
    path = source / MANIFEST
    if not path.is_file():
        raise BackupError(f"{source} has no {MANIFEST}: not a backup, or an unfinished one")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"{path}: unreadable manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: not a smartsite backup manifest of format {FORMAT}")
    return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
