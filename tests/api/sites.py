"""What the API tests share: the one-anemometer site they are written against, its tokens, the client.

A test file says only what differs: the ``api`` section (who may do what), further devices and rules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
import pytest

from api import create_app
from gateway.runtime import Runtime
from gateway.vocab import ReadingBatch, SinkBatch

ANEMO1 = """\
  - id: anemo1
    type: mqtt
    channels: {wind_speed: {unit: m/s, range: [0, 60]}}
"""
# Yellow above 10 m/s, red above 20 m/s.
WIND_RULE = (
    "  - {id: wind, type: threshold, channels: [anemo1.wind_speed], upper: {yellow: 10, red: 20},"
    " hysteresis: 1}\n"
)

# env variable -> (role, secret); a user: env variable -> (name, role, secret)
Tokens = Mapping[str, tuple[str, str]]
Users = Mapping[str, tuple[str, str, str]]


def api_section(anonymous: str, tokens: Tokens, users: Users | None = None) -> str:
    """The ``api`` section: ``anonymous_role`` (``%s`` to fill in later), the role tokens, the people."""
    lines = ["api:", f"  anonymous_role: {anonymous}", "  tokens:"]
    lines += [f"    - {{role: {role}, env: {env}}}" for env, (role, _) in tokens.items()]
    if users:
        lines.append("  users:")
        lines += [
            f"    - {{name: {name}, role: {role}, token_env: {env}}}"
            for env, (name, role, _) in users.items()
        ]
    return "\n".join(lines) + "\n"


def wind_site(api: str, *, devices: str = "", rules: str = WIND_RULE, more: str = "") -> str:
    """Site s1: anemo1 and ``devices``, then ``rules``, ``more`` sections and the ``api`` section."""
    return f"site: {{id: s1}}\ndevices:\n{ANEMO1}{devices}rules:\n{rules}{more}{api}"


def set_tokens(monkeypatch: pytest.MonkeyPatch, tokens: Tokens, users: Users | None = None) -> None:
    """The secrets of ``tokens`` and ``users`` into their env variables, as the site file names them."""
    for env, (_, secret) in tokens.items():
        monkeypatch.setenv(env, secret)
    for env, (_, _, secret) in (users or {}).items():
        monkeypatch.setenv(env, secret)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@asynccontextmanager
async def api_client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of the runtime's app, with the alarm desk running."""
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with runtime.desk, httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield client


async def feed(runtime: Runtime, batch: ReadingBatch) -> None:
    """Through the analytics, and the events to the alarm desk as its sink worker would."""
    events = runtime.pipeline.process(batch)
    await runtime.desk.write(SinkBatch(batch, tuple(events)))


def wind_red() -> ReadingBatch:
    """anemo1.wind_speed 12 then 25 m/s: one alarm, red."""
    return ReadingBatch.from_lists([1.0, 2.0], [0, 0], [12.0, 25.0], [0, 0])


async def raise_wind_alarm(
    runtime: Runtime, client: httpx.AsyncClient, headers: Mapping[str, str] | None = None
) -> str:
    """Feeds ``wind_red`` and answers the id of the alarm it opens, as listed to ``headers``."""
    await feed(runtime, wind_red())
    return str((await client.get("/api/v1/alarms", headers=headers)).json()[0]["id"])
