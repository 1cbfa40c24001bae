"""The dashboard is served by the gateway and needs nothing from the internet."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import httpx
import pytest

from api import create_app
from gateway.config import parse_config
from gateway.runtime import Runtime

STATIC = Path(str(resources.files("api").joinpath("static")))
# The one URL-looking string allowed: the SVG namespace name, an identifier that is never fetched.
ALLOWED = {"http://www.w3.org/2000/svg"}


def test_no_file_of_the_dashboard_loads_anything_from_elsewhere() -> None:
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        urls = set(re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'`)]*", text)) - ALLOWED
        assert not urls, (path.name, urls)
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert ref.startswith(("/static/", "data:")), ref


@pytest.mark.parametrize("name", ["app.js", "app.css", "i18n.js", "chart.js"])
async def test_the_gateway_serves_the_dashboards_files(tmp_path: Path, name: str) -> None:
    runtime = Runtime(parse_config("site: {id: s1}\n"), base_dir=tmp_path)
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        page = await client.get("/")
        assert page.status_code == 200 and f"/static/{name}" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        file = await client.get(f"/static/{name}")
    assert file.status_code == 200 and file.text == (STATIC / name).read_text(encoding="utf-8")
