"""What a SIGHUP does with the site file: read and check it as ``check-config`` does, and say what
of a change cannot be applied without a restart.

A reload that passes is applied by ``smartsite.serve`` as an in-process restart of the runtime on
the same listening socket and the same stores: the broker keeps the messages not yet stored
(persistent session), baselines, windows and active alarms resume from the stores (as after any
restart), and the API's people and tokens are read again. A reload that fails changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from gateway.config import SiteConfig, load_config
from gateway.site import Site
from gateway.storage.paths import alarm_store_path


def load_checked(path: Path) -> SiteConfig:
    """The site file parsed, checked and its rules compiled; raises ConfigError listing every
    problem (the lines ``check-config`` prints), or OSError when it cannot be read."""
    config = load_config(path)
    Site(config).analytics()
    return config


def needs_restart(running: SiteConfig, new: SiteConfig, base_dir: Path) -> list[str]:
    """The changes a reload cannot apply: what the process holds for its lifetime (the API's
    listening socket and the lock on the site's stores). One line per change."""
    problems = []
    if (running.api.bind, running.api.port) != (new.api.bind, new.api.port):
        problems.append(
            f"api.bind/api.port changed ({running.api.bind}:{running.api.port} -> "
            f"{new.api.bind}:{new.api.port}): the listening socket is kept across reloads"
        )
    if alarm_store_path(running, base_dir) != alarm_store_path(new, base_dir):
        problems.append("the alarm store's path changed: the process holds the lock on the old one")
    return problems
