"""E-mail against a real local aiosmtpd: STARTTLS with a self-signed certificate, never plain text."""

from __future__ import annotations

import ssl
from email.header import decode_header, make_header

import pytest

from drivers.notify import EmailChannel
from gateway.alarms.render import render
from gateway.vocab import RetryableSinkError, SinkRejectedError
from tests.drivers.notify.receivers import SmtpRecorder
from tests.drivers.notify.samples import DASHBOARD, many, notice
from tests.support import free_port


async def test_mail_goes_over_starttls_listing_every_notice(
    smtp_tls: SmtpRecorder, client_tls: ssl.SSLContext
) -> None:
    message = render(many(30), "email", "zh", DASHBOARD)
    channel = EmailChannel(
        "mail",
        host="127.0.0.1",
        port=smtp_tls.port,
        sender="gateway@site.example",
        to=["safety@site.example", "pm@site.example"],
        tls_context=client_tls,
    )
    async with channel:
        await channel.send(message)
    [(envelope, mail, over_tls)] = smtp_tls.mails
    assert over_tls
    assert envelope.rcpt_tos == ["safety@site.example", "pm@site.example"]
    assert "智慧工地报警通知 30 条" in str(make_header(decode_header(mail["Subject"])))
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    text = payload.decode(mail.get_content_charset() or "utf-8")
    assert text.count("http://gw.local:8080/#/alarms/") == 30
    assert "水平位移" in text


async def test_english_mail(smtp_tls: SmtpRecorder, client_tls: ssl.SSLContext) -> None:
    channel = EmailChannel(
        "mail", "127.0.0.1", "gw@site.example", ["a@site.example"], port=smtp_tls.port, tls_context=client_tls
    )
    async with channel:
        await channel.send(render([notice()], "email", "en", DASHBOARD))
    [(_envelope, mail, _tls)] = smtp_tls.mails
    assert mail["Subject"] == "[Red alarm] new pit.P3.disp_h"


async def test_server_without_starttls_fails_clearly_and_sends_nothing(smtp_plain: SmtpRecorder) -> None:
    channel = EmailChannel("mail", "127.0.0.1", "gw@site.example", ["a@site.example"], port=smtp_plain.port)
    async with channel:
        with pytest.raises(RetryableSinkError, match="does not offer STARTTLS; not sending in plain text"):
            await channel.send(render([notice()], "email", "zh"))
    assert smtp_plain.mails == []


async def test_untrusted_certificate_is_not_accepted(smtp_tls: SmtpRecorder) -> None:
    # The system trust store does not know the test's self-signed certificate.
    channel = EmailChannel("mail", "127.0.0.1", "gw@site.example", ["a@site.example"], port=smtp_tls.port)
    async with channel:
        with pytest.raises(RetryableSinkError):
            await channel.send(render([notice()], "email", "zh"))
    assert smtp_tls.mails == []


async def test_plain_text_only_when_configured_off_for_a_local_server(smtp_plain: SmtpRecorder) -> None:
    channel = EmailChannel(
        "mail", "127.0.0.1", "gw@site.example", ["a@site.example"], port=smtp_plain.port, starttls=False
    )
    async with channel:
        await channel.send(render([notice()], "email", "zh"))
    assert len(smtp_plain.mails) == 1
    with pytest.raises(ValueError, match="only for a local SMTP server"):
        EmailChannel("mail", "smtp.example.com", "gw@site.example", ["a@site.example"], starttls=False)


async def test_nobody_listening_is_retryable() -> None:
    channel = EmailChannel(
        "mail", "127.0.0.1", "gw@site.example", ["a@site.example"], port=free_port(), timeout_s=2
    )
    async with channel:
        with pytest.raises(RetryableSinkError):
            await channel.send(render([notice()], "email", "zh"))


async def test_every_recipient_refused_is_a_rejection(
    smtp_tls: SmtpRecorder, client_tls: ssl.SSLContext
) -> None:
    smtp_tls.refuse("nobody@site.example")
    channel = EmailChannel(
        "mail",
        "127.0.0.1",
        "gw@site.example",
        ["nobody@site.example"],
        port=smtp_tls.port,
        tls_context=client_tls,
    )
    async with channel:
        with pytest.raises(SinkRejectedError, match="recipient"):
            await channel.send(render([notice()], "email", "zh"))
    assert smtp_tls.mails == []
