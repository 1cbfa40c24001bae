"""A generic HTTP endpoint: POST of the JSON document listing the notices; any 2xx accepts it."""

from __future__ import annotations

import ssl

from drivers.notify._http import HttpChannel, json_bytes
from drivers.notify.contract import Rendered


class WebhookChannel(HttpChannel):
    kind = "webhook"

    def __init__(
        self,
        name: str,
        url: str,
        token: str | None = None,
        timeout_s: float = 5.0,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(name, timeout_s, verify)
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must be http(s): {url!r}")
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def send(self, message: Rendered) -> None:
        await self._post(self.url, json_bytes(message.document), self._headers)
