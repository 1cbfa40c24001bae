"""A person's token is revoked by taking them out of the site file and reloading (SIGHUP): from then
on it is refused, while everyone else's still works and nothing restarts the process."""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.browser.site_gateway import SUPERVISOR, VIEWER, SiteGateway

pytestmark = pytest.mark.integration


def status_of(url: str, token: str) -> int:
    request = urllib.request.Request(url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code
    except OSError:
        return 0  # between the old runtime and the new one


def test_removing_a_person_and_reloading_revokes_their_token(tmp_path: Path) -> None:
    gw = SiteGateway(tmp_path).start()
    try:
        assert status_of(gw.url, VIEWER) == 200 and status_of(gw.url, SUPERVISOR) == 200
        text = gw.config_path.read_text(encoding="utf-8")
        without = "\n".join(line for line in text.splitlines() if "Li Kan" not in line) + "\n"
        assert without != text
        gw.config_path.write_text(without, encoding="utf-8")
        assert gw.proc is not None
        pid = gw.proc.pid
        gw.proc.send_signal(signal.SIGHUP)
        end = time.monotonic() + 30
        while status_of(gw.url, VIEWER) != 401:
            assert time.monotonic() < end, "the removed person's token still works after the reload"
            time.sleep(0.1)
        assert status_of(gw.url, SUPERVISOR) == 200
        assert gw.proc.poll() is None and gw.proc.pid == pid  # the same process, reloaded
    finally:
        gw.stop()
