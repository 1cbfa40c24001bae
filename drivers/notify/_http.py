"""What the HTTP channels share: one kept client, a hard deadline, and the answer's meaning.

TLS certificates are always verified. Redirects are not followed blindly: a 307/308 to the same
origin is followed (at most 3 hops, the POST kept); any other redirect refuses the message, so a
notice never goes to a host the configuration does not name.

httpx is imported when a channel opens its client: a site without an HTTP channel starts without it.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Self

from gateway.vocab import RetryableSinkError, SinkRejectedError

if TYPE_CHECKING:
    import httpx

MAX_REDIRECTS = 3
USER_AGENT = "smartsite-gateway"


def json_bytes(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


class HttpChannel:
    """Base of the HTTP channels: ``_post`` returns a 2xx response or raises the sink errors."""

    name: str

    def __init__(
        self,
        name: str,
        timeout_s: float = 5.0,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.name = name
        self.timeout_s = timeout_s
        # None means the system's trust store; a context is for private CAs (and tests).
        self._verify: ssl.SSLContext | bool = verify if verify is not None else True
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Self:
        import httpx

        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout_s),
            follow_redirects=False,
            verify=self._verify,
            headers={"User-Agent": USER_AGENT},
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _retry(self, reason: str) -> RetryableSinkError:
        return RetryableSinkError(self.name, reason)

    def _reject(self, reason: str) -> SinkRejectedError:
        return SinkRejectedError(self.name, reason)

    async def _post(self, url: str, body: bytes, headers: Mapping[str, str] | None = None) -> httpx.Response:
        client = self._client
        if client is None:
            raise RuntimeError(f"channel {self.name!r} used outside its 'async with'")
        import httpx  # loaded by __aenter__

        all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        target = httpx.URL(url)
        try:
            # httpx's timeouts are per phase; a receiver that answers byte by byte is cut here.
            async with asyncio.timeout(self.timeout_s):
                for _hop in range(MAX_REDIRECTS + 1):
                    response = await client.post(target, content=body, headers=all_headers)
                    if not response.is_redirect:
                        break
                    target = self._same_origin_redirect(target, response)
                else:
                    raise self._reject(f"more than {MAX_REDIRECTS} redirects")
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise self._retry(f"no answer within {self.timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            raise self._retry(f"request failed: {type(exc).__name__}: {exc}") from exc
        self._check_status(response)
        return response

    def _same_origin_redirect(self, target: httpx.URL, response: httpx.Response) -> httpx.URL:
        location = response.headers.get("Location", "")
        if response.status_code not in (307, 308) or not location:
            raise self._reject(f"HTTP {response.status_code} redirect to {location!r} not followed")
        new = target.join(location)
        if _origin(new) != _origin(target):
            raise self._reject(f"redirect to another origin not followed: {new}")
        return new

    def _check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = f"HTTP {status}: {response.text[:200]!r}"
        if status in (408, 429) or status >= 500:
            raise self._retry(detail)
        raise self._reject(detail)

    def _check_errcode(
        self, response: httpx.Response, retry_codes: Iterable[int], reject_codes: Iterable[int]
    ) -> None:
        """Robot APIs answer HTTP 200 with ``{"errcode": 0}`` when they took the message.

        Codes saying the message itself is bad refuse it; every other non-zero code (rate limit,
        busy, a token or signature problem that an operator can fix) keeps it for a retry.
        """
        try:
            answer = response.json()
        except ValueError:
            raise self._retry(f"unreadable answer: {response.text[:200]!r}") from None
        code = answer.get("errcode") if isinstance(answer, dict) else None
        if not isinstance(code, int) or isinstance(code, bool):
            raise self._retry(f"answer without an errcode: {response.text[:200]!r}")
        if code == 0:
            return
        detail = f"errcode {code}: {answer.get('errmsg', '')}"
        if code in set(reject_codes) and code not in set(retry_codes):
            raise self._reject(detail)
        raise self._retry(detail)
