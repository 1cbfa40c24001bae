"""Stored records forwarded to InfluxDB 2.x (or anything speaking ``/api/v2/write``: VictoriaMetrics).

The layout is in ``drivers/line_protocol.py`` and docs/influxdb.md: readings go to measurement
``reading`` (tags ``site``, ``device``, ``channel``, ``quantity`` + extra tags; fields ``value``,
``quality``, ``seq``), alarm events to ``alarm_event``, crane cycles to ``crane_cycle``, all with
millisecond timestamps.

Requests: influxdb-client's async write API posts gzip-compressed line protocol text, at most
``max_points_per_request`` lines per request. What the server answers decides what ``send`` does:

===========================  ==================================================================
2xx                          accepted
400, 422                     refused for good: counted in ``Delivery.rejected`` with the reason
413                          the request is split in halves, down to single points; a single
                             point still too large is refused for good
429, 503                     ``DestinationBusyError`` with the server's Retry-After (or None)
401, 403, 404, 3xx, 5xx      ``RetryableSinkError`` naming the likely cause (token, URL...)
no answer                    ``RetryableSinkError`` naming the URL and the cause (refused, DNS,
                             timeout, TLS); https is never retried as http, redirects are not
                             followed
===========================  ==================================================================

Duplicates: when a chunk needs several requests and one fails, ``send`` remembers how far the
chunk got, and the forwarder's retry of that chunk (same ``chunk.id``) starts after the part already
accepted. Across a restart, or when a request's answer was lost, points are sent again; that is
harmless because a point is identified by its series (measurement + tag set) and timestamp:
InfluxDB overwrites the same point with the same fields, and VictoriaMetrics keeps one sample per
series and timestamp when started with ``-dedup.minScrapeInterval``. The ``seq`` field tells a
reader which stored record a point came from.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.client.write_api_async import WriteApiAsync
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from drivers.line_protocol import (
    Encoded,
    ReadingEncoder,
    Refusals,
    check_extra_tags,
    encode_cycles,
    encode_events,
)
from gateway.vocab import (
    ChannelMeta,
    Delivery,
    DestinationBusyError,
    ForwardChunk,
    RecordKind,
    RetryableSinkError,
)

log = logging.getLogger(__name__)

REASON_CHARS = 300  # a server's message is trimmed to this in a Delivery reason
_LOGGED_REASONS_MAX = 256
_PROGRESS_KEPT = 8  # chunks whose partial progress is remembered
_DROPPED = re.compile(r"dropped=(\d+)")
# The library's WritePrecision members are plain strings although its signature asks for the class.
_MILLISECONDS: Any = WritePrecision.MS


@dataclass
class _Progress(Refusals):
    """How far one chunk got, kept so the forwarder's retry does not resend accepted requests."""

    chunk_id: str
    records: int
    encoded: Encoded
    done: int = 0  # lines accepted or refused for good, from the start


class _TooLarge(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Refused(Exception):
    def __init__(self, reason: str, count: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.count = count


class InfluxDestination:
    """A ``Destination`` writing line protocol to ``<url>/api/v2/write``.

    Enter it before the first ``send`` (that makes the HTTP client) and leave it to close the client;
    ``send`` is never called after exit, nor twice at once (``in_flight``). ``channels[i]`` names
    column ``i`` of a readings chunk's ``channel`` array.
    """

    def __init__(
        self,
        name: str,
        url: str,
        token: str | None,
        org: str,
        bucket: str,
        site: str,
        channels: Sequence[ChannelMeta],
        timeout_s: float = 10.0,
        max_points_per_request: int = 5000,
        extra_tags: Mapping[str, str] = {},
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"InfluxDB URL must be http:// or https://host[:port]: {url!r}")
        if max_points_per_request < 1:
            raise ValueError("max_points_per_request must be at least 1")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        check_extra_tags(extra_tags)
        self.name = name
        self.in_flight = 1
        self.url = url
        # Shown in errors and logs: never the user:password part of a URL.
        self.shown_url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        self._token = token
        self._org = org
        self._bucket = bucket
        self._site = site
        self._extra_tags = dict(extra_tags)
        self._timeout_s = timeout_s
        self._max_points = max_points_per_request
        self._readings = ReadingEncoder(site, channels, self._extra_tags)
        self._client: InfluxDBClientAsync | None = None
        self._write_api: WriteApiAsync | None = None
        # Chunks part-way through, by id: the forwarder may send another kind before retrying one.
        self._progress: dict[str, _Progress] = {}
        self._logged_reasons: set[str] = set()
        self._logged_split = False
        self.requests = 0
        self.points_written = 0
        self.points_rejected = 0

    async def __aenter__(self) -> Self:
        self._client = InfluxDBClientAsync(
            url=self.url,
            token=self._token or "",  # empty: no Authorization header
            org=self._org,
            timeout=int(self._timeout_s * 1000),  # the library counts milliseconds
            enable_gzip=True,
            # A redirect could lead from https to plain http, and would carry the token along.
            allow_redirects=False,
        )
        _gzip_fast(self._client.conf)
        self._write_api = self._client.write_api()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        client, self._client, self._write_api = self._client, None, None
        if client is not None:
            await client.close()

    async def send(self, chunk: ForwardChunk) -> Delivery:
        if self._write_api is None:
            raise RuntimeError(f"{self.name}: enter the destination before send")
        progress = self._progress_for(chunk)
        lines = progress.encoded.lines
        step = self._max_points
        while progress.done < len(lines):
            start = progress.done
            end = min(start + step, len(lines))
            try:
                await self._post(lines[start:end])
                self.points_written += end - start
            except _TooLarge as too_large:
                if end - start > 1:
                    step = (end - start + 1) // 2
                    self._log_split(end - start)
                    continue
                self._refuse(progress, 1, too_large.reason)
            except _Refused as refused:
                count = end - start
                if refused.count is not None:
                    count = min(count, refused.count)
                self._refuse(progress, count, refused.reason)
            progress.done = end
        self._progress.pop(chunk.id, None)
        if progress.rejected == 0:
            return Delivery()
        return Delivery(rejected=progress.rejected, reason="; ".join(progress.reasons)[: REASON_CHARS * 2])

    def _progress_for(self, chunk: ForwardChunk) -> _Progress:
        kept = self._progress.get(chunk.id)
        if kept is not None and kept.records == len(chunk):
            return kept
        encoded = self._encode(chunk)
        progress = _Progress(chunk.id, len(chunk), encoded)
        for reason in encoded.reasons:
            self._log_refusal(reason)
        progress.rejected = encoded.rejected
        progress.reasons = list(encoded.reasons)
        self.points_rejected += encoded.rejected
        self._progress[chunk.id] = progress
        while len(self._progress) > _PROGRESS_KEPT:
            del self._progress[next(iter(self._progress))]
        return progress

    def _encode(self, chunk: ForwardChunk) -> Encoded:
        if chunk.kind == RecordKind.READINGS:
            return self._readings.encode(chunk.seq, chunk.ts, chunk.channel, chunk.value, chunk.quality)
        if chunk.kind in (RecordKind.EVENTS, RecordKind.CYCLES):
            if len(chunk.documents) != len(chunk.seq):
                out = Encoded()
                out.refuse(
                    len(chunk),
                    f"chunk {chunk.id} has {len(chunk.documents)} documents for "
                    f"{len(chunk.seq)} sequence numbers",
                )
                return out
            encode = encode_events if chunk.kind == RecordKind.EVENTS else encode_cycles
            return encode(chunk.documents, chunk.seq.tolist(), self._site, self._extra_tags)
        out = Encoded()
        out.refuse(len(chunk), f"unknown record kind {chunk.kind!r}")
        return out

    async def _post(self, lines: list[str]) -> None:
        """One write request; returns when accepted, raises what its answer means."""
        assert self._write_api is not None
        self.requests += 1
        try:
            await self._write_api.write(
                bucket=self._bucket,
                org=self._org,
                record="\n".join(lines),
                write_precision=_MILLISECONDS,
            )
        except ApiException as exc:
            self._raise_for_status(exc, len(lines))
        except TimeoutError as exc:  # aiohttp's own timeouts are TimeoutErrors too
            raise RetryableSinkError(
                self.name, f"{self.shown_url}: no answer within {self._timeout_s:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise RetryableSinkError(self.name, f"{self.shown_url}: {describe_network_error(exc)}") from exc
        except OSError as exc:
            raise RetryableSinkError(self.name, f"{self.shown_url}: {describe_network_error(exc)}") from exc

    def _raise_for_status(self, exc: ApiException, points: int) -> None:
        status = int(exc.status or 0)
        message = server_message(exc.body, exc.headers)
        said = f"HTTP {status}" + (f": {message}" if message else "")
        where = self.shown_url
        if status in (400, 422):
            dropped = _DROPPED.search(message)
            raise _Refused(said, int(dropped.group(1)) if dropped else None) from exc
        if status == 413:
            raise _TooLarge(said) from exc
        if status in (429, 503):
            retry_after = parse_retry_after(_header(exc.headers, "Retry-After"), time.time())
            raise DestinationBusyError(self.name, f"{where}: busy ({said})", retry_after) from exc
        if status == 401:
            reason = f"unauthorised: check the token ({said})"
        elif status == 403:
            reason = f"forbidden: check the token may write to bucket {self._bucket!r} ({said})"
        elif status == 404:
            reason = f"not found: check the URL, org {self._org!r} and bucket {self._bucket!r} ({said})"
        elif 300 <= status < 400:
            target = _header(exc.headers, "Location") or "?"
            reason = f"redirected to {target}, not followed: configure the final URL ({said})"
        elif status == 0:
            reason = f"request not sent: {exc.reason}"
        else:
            reason = f"server error ({said})"
        raise RetryableSinkError(self.name, f"{where}: {reason}") from exc

    def _refuse(self, progress: _Progress, count: int, reason: str) -> None:
        progress.refuse(count, reason)
        self.points_rejected += count
        self._log_refusal(reason)

    def _log_refusal(self, reason: str) -> None:
        if reason in self._logged_reasons:
            return
        if len(self._logged_reasons) >= _LOGGED_REASONS_MAX:
            self._logged_reasons.clear()
        self._logged_reasons.add(reason)
        log.warning("%s: points refused for good, dropped: %s (logged once per reason)", self.name, reason)

    def _log_split(self, size: int) -> None:
        if not self._logged_split:
            self._logged_split = True
            log.warning(
                "%s: %s answered 413 to %d points; sending halves (lower max_points_per_request; "
                "logged once)",
                self.name,
                self.shown_url,
                size,
            )


def describe_network_error(exc: BaseException) -> str:
    """What went wrong on the way to the server, in words an installer can act on."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate not accepted: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS handshake failed: {_cause(exc)}"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve host {exc.host!r}: {_cause(exc)}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port}: {_cause(exc)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server closed the connection before answering"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if _is_ssl_error(exc):
        return f"TLS failure: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _cause(exc: aiohttp.ClientConnectorError) -> str:
    os_error = exc.os_error
    # asyncio words a refused connection "Connect call failed (addr)"; the errno says what happened.
    if isinstance(os_error.errno, int) and os_error.errno > 0 and not isinstance(os_error, ssl.SSLError):
        return os.strerror(os_error.errno)
    return str(os_error.strerror or os_error or exc)


def _is_ssl_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def server_message(body: object, headers: Any) -> str:
    """The server's explanation: the JSON ``message``, else the body's text, else an error header."""
    text = ""
    if isinstance(body, bytes | bytearray):
        text = bytes(body).decode("utf-8", errors="replace")
    elif isinstance(body, str):
        text = body
    if text:
        try:
            decoded = json.loads(text)
            if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
                text = decoded["message"]
        except ValueError:
            pass
    else:
        for key in ("X-Platform-Error-Code", "X-Influx-Error", "X-InfluxDb-Error"):
            text = _header(headers, key) or ""
            if text:
                break
    text = " ".join(text.split())
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delay seconds or an HTTP date); None if unusable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            return None
        return max(0.0, moment.timestamp() - now)
    return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None


def _header(headers: Any, key: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(key)
    return None if value is None else str(value)


def _gzip_fast(conf: Any) -> None:
    """Have the client gzip write bodies at level 1 instead of its fixed level 9.

    The client compresses inside the event loop: level 9 costs about 2.3 µs a point, level 1
    about a tenth of that for nearly the same size on line protocol (x8 against x11, measured).
    ``update_request_body`` is the library's own hook for this (its gzip lives there too).
    """
    library_hook = conf.update_request_body

    def update_request_body(path: str, body: Any) -> Any:
        if conf.enable_gzip and path == "/api/v2/write":
            data = body if isinstance(body, bytes) else str(body).encode()
            return gzip.compress(data, compresslevel=1)
        return library_hook(path, body)

    conf.update_request_body = update_request_body
