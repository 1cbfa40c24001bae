from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.drivers.notify.receivers import HttpRecorder, SmtpRecorder
from tests.support import self_signed_cert

DINGTALK_SECRET = "SEC0123456789abcdef+/=test"


@pytest.fixture
async def http() -> AsyncIterator[HttpRecorder]:
    async with HttpRecorder(dingtalk_secret=DINGTALK_SECRET) as recorder:
        yield recorder


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def client_tls(cert: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert[0]))


@pytest.fixture
def smtp_tls(cert: tuple[Path, Path]) -> Iterator[SmtpRecorder]:
    with SmtpRecorder(cert) as server:
        yield server


@pytest.fixture
def smtp_plain() -> Iterator[SmtpRecorder]:
    with SmtpRecorder() as server:
        yield server
