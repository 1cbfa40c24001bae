"""A DingTalk (钉钉) group robot: markdown, with the HMAC-SHA256 signed URL when a secret is set.

Signing (DingTalk's "加签"): ``timestamp`` in ms; ``sign`` = urlencode(base64(hmac_sha256(secret,
f"{timestamp}\\n{secret}"))); the robot refuses a timestamp more than an hour off, so a fresh one is
made for every send. It answers ``{"errcode": 0}`` when it took the message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ssl
import time
from collections.abc import Callable
from urllib.parse import quote_plus, urlencode

from drivers.notify._http import HttpChannel, json_bytes
from drivers.notify.contract import Rendered

BASE_URL = "https://oapi.dingtalk.com/robot/send"
MARKDOWN_MAX_BYTES = 20000

# -1: system busy; 130101: sending too fast; 410100: flow control.
RETRY_CODES = (-1, 130101, 410100)
# The message itself is bad: missing/invalid json, content type, unsupported type, too long.
REJECT_CODES = (40035, 43004, 400105, 460101)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The ``sign`` query value, already URL-encoded."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def dingtalk_url(url: str | None = None, token: str | None = None, base_url: str = BASE_URL) -> str:
    if url:
        return url
    if not token:
        raise ValueError("a DingTalk robot needs its url or its access token")
    return f"{base_url}?{urlencode({'access_token': token})}"


class DingTalkChannel(HttpChannel):
    kind = "dingtalk"

    def __init__(
        self,
        name: str,
        url: str | None = None,
        token: str | None = None,
        secret: str | None = None,
        base_url: str = BASE_URL,
        timeout_s: float = 5.0,
        verify: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, timeout_s, verify)
        self.url = dingtalk_url(url, token, base_url)
        self._secret = secret or None
        self._clock = clock

    def signed_url(self) -> str:
        if self._secret is None:
            return self.url
        timestamp = int(self._clock() * 1000)
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}timestamp={timestamp}&sign={dingtalk_sign(self._secret, timestamp)}"

    async def send(self, message: Rendered) -> None:
        if len(message.text.encode()) > MARKDOWN_MAX_BYTES:
            raise self._reject(f"markdown over {MARKDOWN_MAX_BYTES} bytes (render it for dingtalk)")
        body = {"msgtype": "markdown", "markdown": {"title": message.title, "text": message.text}}
        response = await self._post(self.signed_url(), json_bytes(body))
        self._check_errcode(response, RETRY_CODES, REJECT_CODES)
