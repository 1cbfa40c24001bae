"""Webhook, WeCom and DingTalk channels against a real local HTTP receiver."""

from __future__ import annotations

import pytest

from drivers.notify import DingTalkChannel, WebhookChannel, WeComChannel, channel_for, dingtalk_sign
from gateway.alarms.render import render
from gateway.vocab import RetryableSinkError, SinkRejectedError
from tests.drivers.notify.conftest import DINGTALK_SECRET
from tests.drivers.notify.receivers import HttpRecorder, Reply
from tests.drivers.notify.samples import DASHBOARD, many, notice


async def test_webhook_posts_the_json_document_with_the_token(http: HttpRecorder) -> None:
    message = render(many(5), "webhook", "zh", DASHBOARD)
    async with WebhookChannel("hook", http.url("/hook"), token="s3cret") as channel:
        await channel.send(message)
    [request] = http.on("/hook")
    assert request.method == "POST"
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers["content-type"].startswith("application/json")
    document = request.json()
    assert document["count"] == 5 and [n["id"] for n in document["notices"]] == list(message.notice_ids)
    assert "红色报警" in document["text"]


async def test_wecom_sends_markdown_and_checks_errcode(http: HttpRecorder) -> None:
    message = render([notice()], "wecom", "zh", DASHBOARD)
    async with WeComChannel("wc", url=http.url("/wecom")) as channel:
        await channel.send(message)
    [request] = http.on("/wecom")
    body = request.json()
    assert body["msgtype"] == "markdown"
    assert "pit.P3.disp_h 基坑南侧 水平位移 31.2 mm ≥ 30 mm" in body["markdown"]["content"]


async def test_wecom_key_makes_the_url(http: HttpRecorder) -> None:
    async with WeComChannel("wc", key="K-1", base_url=http.url("/wecom")) as channel:
        await channel.send(render([notice()], "wecom", "en"))
    [request] = http.on("/wecom")
    assert request.query["key"] == ["K-1"]
    assert "[Red alarm] new" in request.json()["markdown"]["content"]


async def test_dingtalk_signs_every_request(http: HttpRecorder) -> None:
    channel = DingTalkChannel("dt", url=http.url("/dingtalk") + "?access_token=TOKEN", secret=DINGTALK_SECRET)
    async with channel:
        await channel.send(render([notice()], "dingtalk", "zh", DASHBOARD))
        await channel.send(render(many(3), "dingtalk", "en", DASHBOARD))
    requests = http.on("/dingtalk")
    assert len(requests) == 2 and http.bad_signatures == 0
    assert all(r.query["access_token"] == ["TOKEN"] for r in requests)
    first = requests[0].json()
    assert first["msgtype"] == "markdown"
    assert first["markdown"]["title"] == "【红色报警】新报警 pit.P3.disp_h"
    assert "速率 3.1 mm/d" in first["markdown"]["text"]
    assert requests[1].json()["markdown"]["title"].startswith("Site alarms: 3 notices")


async def test_dingtalk_wrong_secret_is_refused_by_the_robot_and_kept(http: HttpRecorder) -> None:
    async with DingTalkChannel("dt", token="TOKEN", secret="wrong", base_url=http.url("/dingtalk")) as ch:
        with pytest.raises(RetryableSinkError, match="310000"):
            await ch.send(render([notice()], "dingtalk", "zh"))
    assert http.bad_signatures == 1


def test_dingtalk_signature_matches_the_documented_recipe() -> None:
    # hmac_sha256("SECx", "1700000000000\nSECx"), base64, then URL-encoded.
    sign = dingtalk_sign("SECx", 1_700_000_000_000)
    assert "+" not in sign and "/" not in sign and "=" not in sign
    channel = DingTalkChannel(
        "dt", url="https://robot.example/send?access_token=T", secret="SECx", clock=lambda: 1.7e9
    )
    assert (
        channel.signed_url()
        == f"https://robot.example/send?access_token=T&timestamp=1700000000000&sign={sign}"
    )


@pytest.mark.parametrize(
    ("path", "reply"),
    [
        ("/hook", Reply(status=500, body=b"oops")),
        ("/hook", Reply(status=429, body=b"slow down")),
        ("/hook", Reply(status=503, body=b"")),
        ("/wecom", Reply(status=500)),
        ("/wecom", Reply(status=429)),
        ("/wecom", Reply(body=b"<html>gateway</html>")),  # garbage
        ("/wecom", Reply(body=b'{"errmsg":"ok"}')),  # no errcode
        ("/wecom", Reply(body=b'{"errcode":45009,"errmsg":"api freq out of limit"}')),
        ("/wecom", Reply(body=b'{"errcode":93000,"errmsg":"invalid webhook url"}')),
        ("/dingtalk", Reply(body=b'{"errcode":130101,"errmsg":"send too fast"}')),
        ("/dingtalk", Reply(body=b"not json")),
    ],
)
async def test_failures_that_keep_the_message(http: HttpRecorder, path: str, reply: Reply) -> None:
    http.replies[path] = reply
    with pytest.raises(RetryableSinkError) as caught:
        await _send(http, path)
    assert caught.value.sink == path.strip("/")


@pytest.mark.parametrize(
    ("path", "reply"),
    [
        ("/hook", Reply(status=400, body=b"bad json")),
        ("/hook", Reply(status=404)),
        ("/wecom", Reply(status=400)),
        ("/wecom", Reply(body=b'{"errcode":40058,"errmsg":"invalid parameter"}')),
        ("/dingtalk", Reply(body=b'{"errcode":460101,"errmsg":"message too long"}')),
        ("/hook", Reply(status=302, headers={"Location": "https://elsewhere.example/"})),
        ("/hook", Reply(status=307, headers={"Location": "https://elsewhere.example/"})),
    ],
)
async def test_failures_that_refuse_the_message(http: HttpRecorder, path: str, reply: Reply) -> None:
    http.replies[path] = reply
    with pytest.raises(SinkRejectedError):
        await _send(http, path)


async def test_a_same_origin_307_is_followed_with_the_post(http: HttpRecorder) -> None:
    http.replies["/hook"] = Reply(status=307, headers={"Location": "/moved"}, body=b"")
    http.replies["/moved"] = Reply(status=204, body=b"")
    await _send(http, "/hook")
    assert len(http.on("/moved")) == 1 and http.on("/moved")[0].json()["count"] == 1


async def test_a_hanging_receiver_times_out_as_retryable(http: HttpRecorder) -> None:
    http.replies["/hook"] = Reply(hang=True)
    with pytest.raises(RetryableSinkError, match=r"no answer within 0\.3 s"):
        await _send(http, "/hook", timeout_s=0.3)


async def test_nobody_listening_is_retryable() -> None:
    async with HttpRecorder() as gone:
        url = gone.url("/hook")
    async with WebhookChannel("hook", url, timeout_s=1.0) as channel:
        with pytest.raises(RetryableSinkError, match="request failed"):
            await channel.send(render([notice()], "webhook"))


async def _send(http: HttpRecorder, path: str, timeout_s: float = 2.0) -> None:
    kind = {"/hook": "webhook", "/wecom": "wecom", "/dingtalk": "dingtalk"}[path]
    params = {"webhook": {"url": http.url(path)}, "wecom": {"url": http.url(path)}}.get(
        kind, {"url": http.url(path), "secret": DINGTALK_SECRET}
    )
    async with channel_for(kind, path.strip("/"), timeout_s=timeout_s, **params) as channel:
        await channel.send(render([notice()], kind, "zh", DASHBOARD))


def test_channel_for_refuses_unknown_types_and_parameters() -> None:
    with pytest.raises(ValueError, match="unknown notification channel type"):
        channel_for("fax", "x")
    with pytest.raises(ValueError, match="webhook channel"):
        channel_for("webhook", "x", url="http://127.0.0.1/", colour="red")
    with pytest.raises(ValueError, match="url or its key"):
        channel_for("wecom", "x")
