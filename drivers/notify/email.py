"""E-mail over SMTP with STARTTLS: one plain-text message per send, to every configured address.

STARTTLS is required unless it is configured off, and it may be configured off only for a server on
this machine (loopback). A server that does not offer STARTTLS fails the send with a clear reason;
the message is never sent in plain text instead. Certificates are verified.
"""

from __future__ import annotations

import ipaddress
import ssl
import time
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Self

from drivers.notify.contract import Rendered
from gateway.vocab import RetryableSinkError, SinkRejectedError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmailChannel:
    kind = "email"

    def __init__(
        self,
        name: str,
        host: str,
        sender: str,
        to: Sequence[str],
        port: int = 587,
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not to:
            raise ValueError("an e-mail receiver needs at least one address")
        if not starttls and not is_loopback(host):
            raise ValueError(f"STARTTLS may be turned off only for a local SMTP server, not {host!r}")
        if username and not password:
            raise ValueError("an SMTP username needs a password")
        self.name = name
        self.host = host
        self.port = port
        self.sender = sender
        self.to = list(to)
        self.starttls = starttls
        self._username = username or None
        self._password = password or None
        self.timeout_s = timeout_s
        self._tls_context = tls_context if tls_context is not None else ssl.create_default_context()
        self._clock = clock

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def build(self, message: Rendered) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.title
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.to)
        mail["Date"] = formatdate(self._clock(), localtime=False)
        mail["Message-ID"] = make_msgid(domain="smartsite.local")
        if message.notice_ids:
            mail["X-Smartsite-Notices"] = ",".join(message.notice_ids[:50])
        mail.set_content(message.text, charset="utf-8")
        return mail

    async def send(self, message: Rendered) -> None:
        import aiosmtplib  # here, not at start: most sites send no e-mail

        # One connection per message: pushes are rare, and an idle SMTP session would time out.
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout_s,
            use_tls=False,
            start_tls=self.starttls,  # True: required, False: never (loopback only)
            validate_certs=True,
            tls_context=self._tls_context if self.starttls else None,
            username=self._username,
            password=self._password,
        )
        mail = self.build(message)
        try:
            async with smtp:
                _errors, _reply = await smtp.send_message(mail, sender=self.sender, recipients=self.to)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise SinkRejectedError(self.name, f"every recipient refused: {exc}") from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            # An operator fixes the password; the notices wait for it instead of being lost.
            raise RetryableSinkError(self.name, f"SMTP login refused: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise SinkRejectedError(self.name, f"SMTP {exc.code}: {exc.message}") from exc
            raise RetryableSinkError(self.name, f"SMTP {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            if "STARTTLS" in reason:
                reason = (
                    f"{self.host}:{self.port} does not offer STARTTLS; not sending in plain text ({reason})"
                )
            raise RetryableSinkError(self.name, f"SMTP failed: {reason}") from exc
