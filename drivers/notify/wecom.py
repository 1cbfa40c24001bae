"""A WeCom (企业微信) group robot: one markdown message; it answers ``{"errcode": 0}`` when it took it."""

from __future__ import annotations

import ssl
from urllib.parse import urlencode

from drivers.notify._http import HttpChannel, json_bytes
from drivers.notify.contract import Rendered

BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
MARKDOWN_MAX_BYTES = 4096

# 45009: API frequency over the limit (20 messages a minute per robot); -1: system busy.
RETRY_CODES = (-1, 45009, 45033)
# The message itself is bad: invalid type, invalid parameter, empty or too long content.
REJECT_CODES = (40008, 40058, 44004, 45002)


def wecom_url(url: str | None = None, key: str | None = None, base_url: str = BASE_URL) -> str:
    """The robot URL: the full URL if given, else ``base_url?key=<key>``."""
    if url:
        return url
    if not key:
        raise ValueError("a WeCom robot needs its url or its key")
    return f"{base_url}?{urlencode({'key': key})}"


class WeComChannel(HttpChannel):
    kind = "wecom"

    def __init__(
        self,
        name: str,
        url: str | None = None,
        key: str | None = None,
        base_url: str = BASE_URL,
        timeout_s: float = 5.0,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(name, timeout_s, verify)
        self.url = wecom_url(url, key, base_url)

    async def send(self, message: Rendered) -> None:
        if len(message.text.encode()) > MARKDOWN_MAX_BYTES:
            raise self._reject(f"markdown over {MARKDOWN_MAX_BYTES} bytes (render it for wecom)")
        body = {"msgtype": "markdown", "markdown": {"content": message.text}}
        response = await self._post(self.url, json_bytes(body))
        self._check_errcode(response, RETRY_CODES, REJECT_CODES)
