"""Alarms pushed to real local receivers through a running gateway: tiers, grouping, outages."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.config import SiteConfig, parse_config
from tests.drivers.notify.receivers import HttpRecorder, Reply
from tests.integration.site_helpers import running
from tests.support import Mosquitto, eventually, stop_process

pytestmark = pytest.mark.integration

SITE = """
site: {{id: p1}}
mqtt: {{url: "{broker}"}}
devices:
  - id: fw1
    type: mqtt
    position: formwork bay A
    channels: {{{channels}}}
rules:
  # min_hold_s 0: the storm below raises and clears every channel every 2 s (the dwell is tested apart)
  - {{id: settle, type: threshold, channels: ["fw1.*"], upper: {{yellow: 6.4, orange: 6.8, red: 8.0}},
     min_hold_s: 0}}
alarms:
  store: alarms.db
  group_window_s: {window}
  reopen_window_s: 0
  notify_cleared: false
  deadlines_s: {{yellow: 600, orange: 1.5, red: 600}}
  flood: {{summary_every_s: {summary_every}}}
  tiers:
    - {{name: safety officer, receivers: [hook, wecom, ding]}}
    - {{name: project manager, receivers: [boss]}}
  receivers:
    - {{id: hook, type: webhook, url: "{http}/hook"}}
    - {{id: wecom, type: wecom, url: "{http}/wecom", language: en}}
    - {{id: ding, type: dingtalk, url: "{http}/dingtalk?access_token=t", secret_env: P1_DING_SECRET}}
    - {{id: boss, type: webhook, url: "{http}/boss"}}
"""
SECRET = "SEC0123456789abcdef"


def config(
    broker: Mosquitto, http: HttpRecorder, channels: int = 1, window: float = 0.5, summary_every: float = 60
) -> SiteConfig:
    names = ", ".join(f"S{i}: {{unit: mm}}" for i in range(channels))
    text = SITE.format(
        broker=broker.url, http=http.url(""), channels=names, window=window, summary_every=summary_every
    )
    return parse_config(text)


@pytest.fixture
async def http(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[HttpRecorder]:
    monkeypatch.setenv("P1_DING_SECRET", SECRET)
    async with HttpRecorder(dingtalk_secret=SECRET) as recorder:
        yield recorder


def notices(recorder: HttpRecorder, path: str) -> list[dict[str, Any]]:
    return [n for r in recorder.on(path) for n in r.json()["notices"]]


async def publish(port: int, values: dict[str, float], ts: float) -> None:
    async with aiomqtt.Client("127.0.0.1", port) as sensor:
        body = json.dumps({"ts": ts, "values": values})
        await sensor.publish("smartsite/p1/devices/fw1/up", body, qos=1)


async def test_orange_goes_to_tier_one_then_tier_two_once(
    mosquitto: Mosquitto, http: HttpRecorder, tmp_path: Path
) -> None:
    async with running(config(mosquitto, http), tmp_path) as runtime:
        await eventually(lambda: runtime.sources[0].connected, 5, "subscribed")
        sent = time.monotonic()
        await publish(mosquitto.port, {"S0": 7.0}, time.time())
        await eventually(lambda: http.on("/hook"), 3, "webhook push")
        assert time.monotonic() - sent < 3
        (hook,) = notices(http, "/hook")
        assert (hook["kind"], hook["alarm"]["channel"], hook["alarm"]["grade"]) == ("raised", "fw1.S0", 2)
        assert "formwork bay A" in hook["text"] and "橙色" in hook["text"]
        await eventually(lambda: http.on("/wecom") and http.on("/dingtalk"), 3, "robots")
        assert http.bad_signatures == 0
        wecom = http.on("/wecom")[0].json()
        assert wecom["msgtype"] == "markdown" and "Orange" in wecom["markdown"]["content"]
        # Nobody acknowledges within 1.5 s: the project manager is told, once.
        await eventually(lambda: http.on("/boss"), 5, "escalation to tier 2")
        (boss,) = notices(http, "/boss")
        assert boss["kind"] == "overdue"
        alarm_id = boss["alarm"]["id"]
        await runtime.desk.ack(alarm_id, "pm", "seen")
        await eventually(lambda: len(notices(http, "/boss")) == 2, 3, "ack told to tier 2")
        time_after_ack = time.monotonic()
        while time.monotonic() - time_after_ack < 2.5:  # bounded: longer than the deadline
            await runtime.desk.escalate_due()
            await eventually(lambda: True, 0.1, "tick")
        assert [n["kind"] for n in notices(http, "/boss")] == ["overdue", "acknowledged"]


async def test_red_reaches_every_tier_at_once(
    mosquitto: Mosquitto, http: HttpRecorder, tmp_path: Path
) -> None:
    async with running(config(mosquitto, http), tmp_path) as runtime:
        await eventually(lambda: runtime.sources[0].connected, 5, "subscribed")
        await publish(mosquitto.port, {"S0": 9.0}, time.time())
        await eventually(lambda: http.on("/hook") and http.on("/boss"), 3, "both tiers")
        assert notices(http, "/boss")[0]["kind"] == "raised"


async def test_a_storm_goes_out_grouped_with_every_alarm_listed(
    mosquitto: Mosquitto, http: HttpRecorder, tmp_path: Path
) -> None:
    # A storm is an alarm flood (EEMUA 191): summaries, here every 4 s to keep the test short.
    async with running(
        config(mosquitto, http, channels=20, window=1.0, summary_every=4.0), tmp_path
    ) as runtime:
        await eventually(lambda: runtime.sources[0].connected, 5, "subscribed")
        t0 = time.time()
        for i in range(10):  # 10 rounds x 20 channels = 200 alarms from one device in ~2 s
            await publish(mosquitto.port, {f"S{c}": 6.5 for c in range(20)}, t0 + 2 * i)
            await publish(mosquitto.port, {f"S{c}": 1.0 for c in range(20)}, t0 + 2 * i + 1)
        await eventually(lambda: runtime.desk.notices_made >= 200 * 3, 10, "all alarms on the desk")
        ids = {r.id for r in runtime.desk.records.values()}
        assert len(ids) == 200
        # The webhook's document still lists every alarm, in a few messages.
        await eventually(lambda: {n["alarm"]["id"] for n in notices(http, "/hook")} == ids, 10, "webhook")
        print("pushes per receiver:", {p: len(http.on(p)) for p in ("/hook", "/wecom", "/dingtalk")})
        assert len(http.on("/hook")) <= 5, f"{len(http.on('/hook'))} webhook pushes"
        assert len(notices(http, "/hook")) == 200
        # The first alarms went out one by one; from the 11th within 10 minutes on, summaries.
        assert "flood" not in http.on("/hook")[0].json() and "flood" in http.on("/hook")[-1].json()
        # The robots' messages together account for every alarm: listed, then summarised.
        for path, key, counted in (
            ("/wecom", "content", lambda t: int(t.split("; ")[1].split(" notices")[0])),
            ("/dingtalk", "text", lambda t: int(t.split("本条汇总 ")[1].split(" 条")[0])),
        ):

            def accounted(p: str = path, k: str = key, c: Any = counted) -> int:
                texts = [r.json()["markdown"][k] for r in http.on(p)]
                return sum(c(t) if "/#/alarms)" in t else t.count("/#/alarms/") for t in texts)

            await eventually(lambda a=accounted: a() == 200, 10, path)
            assert len(http.on(path)) <= 12, f"{path}: {len(http.on(path))} pushes"
        assert runtime.pushes is not None
        pushes = runtime.pushes
        await eventually(lambda: all(s.pending == 0 for s in pushes.stats().values()), 10, "all delivered")
        stats = pushes.stats()
        for receiver in ("hook", "wecom", "ding"):
            got = stats[receiver]
            assert (got.floods, got.sent) == (1, 200) and 180 <= got.flood_summarised < 200, got


async def test_receiver_down_then_back_none_lost_none_doubled(
    mosquitto: Mosquitto, http: HttpRecorder, tmp_path: Path
) -> None:
    http.replies["/hook"] = Reply(status=503, body=b"busy")
    async with running(config(mosquitto, http, channels=5), tmp_path) as runtime:
        await eventually(lambda: runtime.sources[0].connected, 5, "subscribed")
        t0 = time.time()
        for i in range(4):
            await publish(mosquitto.port, {f"S{c}": 6.5 for c in range(5)}, t0 + 2 * i)
            await publish(mosquitto.port, {f"S{c}": 1.0 for c in range(5)}, t0 + 2 * i + 1)
        await eventually(lambda: len(http.on("/hook")) >= 2, 10, "failed attempts")
        assert runtime.pushes is not None
        await eventually(lambda: runtime.pushes.stats()["hook"].pending == 20, 10, "all waiting")  # type: ignore[union-attr]
        failed_requests = len(http.on("/hook"))
        http.replies.pop("/hook")
        await eventually(lambda: len(http.on("/hook")) > failed_requests, 20, "delivery after the outage")
        await eventually(lambda: runtime.pushes.stats()["hook"].pending == 0, 10, "nothing left")  # type: ignore[union-attr]
        accepted = [n["id"] for r in http.on("/hook")[failed_requests:] for n in r.json()["notices"]]
        assert len(accepted) == 20 and len(set(accepted)) == 20  # none lost, none doubled
        assert runtime.pushes.stats()["hook"].failed_attempts >= 2  # type: ignore[union-attr]


async def test_pushes_survive_a_gateway_killed_while_the_receiver_is_down(
    mosquitto: Mosquitto, http: HttpRecorder, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import urllib.request

    from tests.support import free_port, smartsite_command, wait_for_port

    api_port = free_port()
    site = tmp_path / "site.yaml"
    text = SITE.format(
        broker=mosquitto.url,
        http=http.url(""),
        channels="S0: {unit: mm}, S1: {unit: mm}",
        window=0.2,
        summary_every=60,
    )
    site.write_text(text + f"api: {{port: {api_port}}}\n")
    http.replies["/hook"] = Reply(status=503, body=b"busy")

    def health() -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/api/v1/health", timeout=5) as r:
            return dict(json.load(r))

    def hook_pending() -> int:
        return int(next(p for p in health()["pushes"] if p["receiver"] == "hook")["pending"])

    env_cmd = [*smartsite_command(), "run", "--config", str(site)]
    first = subprocess.Popen(env_cmd, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(api_port, 20)
        await eventually(lambda: health()["sources"][0]["connected"], 10, "subscribed")
        await publish(mosquitto.port, {"S0": 7.0, "S1": 7.5}, time.time())
        await eventually(lambda: hook_pending() == 2 and len(http.on("/hook")) >= 1, 10, "pending pushes")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    failed_requests = len(http.on("/hook"))
    http.replies.pop("/hook")
    second = subprocess.Popen(env_cmd, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(api_port, 20)
        await eventually(lambda: len(http.on("/hook")) > failed_requests, 15, "delivered after the restart")
        await eventually(lambda: hook_pending() == 0, 10, "outbox empty")
        accepted = [n for r in http.on("/hook")[failed_requests:] for n in r.json()["notices"]]
        assert len(accepted) == 2 and len({n["id"] for n in accepted}) == 2
        assert {n["alarm"]["channel"] for n in accepted} == {"fw1.S0", "fw1.S1"}
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/api/v1/alarms", timeout=5) as r:
            assert {a["channel"] for a in json.load(r)} == {"fw1.S0", "fw1.S1"}  # records survived too
    finally:
        stop_process(second)
