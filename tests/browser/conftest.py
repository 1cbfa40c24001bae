"""A gateway (mosquitto + ``smartsite run``) and headless Chromium for the browser tests, one each for
the module. Chromium is Debian's (``/usr/bin/chromium``, installed by scripts/test): Playwright drives
it through ``executable_path`` and never downloads a browser of its own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.site_gateway import SUPERVISOR, SiteGateway
from tests.support import project_root

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}


def artifacts() -> Path:
    """Where screenshots go: $SMARTSITE_ARTIFACTS/browser, or artifacts/browser in the work tree."""
    base = Path(os.environ.get("SMARTSITE_ARTIFACTS", project_root() / "artifacts"))
    folder = base / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteGateway]:
    gw = SiteGateway(tmp_path_factory.mktemp("browser-site")).start()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: scripts/test installs Debian's chromium"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Screen:
    """One browser context signed in with a token, with the page's errors collected."""

    def __init__(
        self, browser: Browser, url: str, token: str, viewport: dict[str, int], bypass_csp: bool = False
    ) -> None:
        """``bypass_csp``: let the test inject a script of its own (axe-core), which the dashboard's
        Content-Security-Policy would otherwise refuse, as it should."""
        self.context = browser.new_context(viewport=viewport, bypass_csp=bypass_csp)  # type: ignore[arg-type]
        self.context.add_init_script(f"localStorage.setItem('smartsite-token', {token!r})")
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        # Console errors too: a request the CSP refused, a failed load, a 4xx the page did not expect.
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.url = url

    def open(self, fragment: str = "") -> Page:
        self.page.goto(self.url + "/" + fragment)
        self.page.wait_for_selector("#live.on", timeout=10_000)  # loaded and the live stream is up
        return self.page

    def shot(self, name: str, full_page: bool = False) -> Path:
        path = artifacts() / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def phone(browser: Browser, gateway: SiteGateway) -> Iterator[Screen]:
    screen = Screen(browser, gateway.url, SUPERVISOR, PHONE)
    try:
        yield screen
    finally:
        screen.close()
    assert not screen.errors, screen.errors
