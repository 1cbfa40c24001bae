"""Weather warnings: CAP documents parsed per second, and POST → first push accepted, p99.

Run: .venv/bin/python benchmarks/cap_parse.py [--quick] [--json]

- ``cap_parse_<doc>``: documents/s through ``drivers.cap.parse.parse_cap`` (defusedxml, DTDs
  forbidden, size, namespace, required elements, dates, areas checked) against plain
  ``xml.etree.ElementTree.fromstring`` of the same bytes, in the same run; ratio = ours / plain.
  Three documents: a one-block Alert, an Update with zh and en blocks and a 200-point polygon, and a
  GB18030 one (its plain baseline decodes the text first: expat takes no multi-byte encoding).
- ``post_to_push``: a whole gateway in this process (``Runtime.run``, the API on uvicorn on
  127.0.0.1): a CAP gale warning POSTed to ``/api/v1/warnings/cap`` → its site alarm's first push
  accepted by a local webhook (parse, warning store, alarm desk, durable outbox, render, httpx),
  p99 over warnings sent at a steady rate; against one direct POST to the same webhook per warning
  with nothing parsed or stored; ratio = ours / direct.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import sys
import tempfile
import time
import xml.etree.ElementTree as plain_et
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from api import create_app
from api.server import ApiServer
from drivers.cap.parse import parse_cap
from gateway.config import parse_config
from gateway.runtime import Runtime
from smartsite.bench.push_latency import Receiver

NS = "urn:oasis:names:tc:emergency:cap:1.2"


def _iso(offset_s: float = 0.0) -> str:
    return datetime.fromtimestamp(time.time() + offset_s, UTC).isoformat(timespec="seconds")


def _info(language: str, event: str, headline: str, polygon: str) -> str:
    return (
        f"<info><language>{language}</language><category>Met</category><event>{event}</event>"
        "<urgency>Expected</urgency><severity>Moderate</severity><certainty>Likely</certainty>"
        "<eventCode><valueName>GB</valueName><value>11B0602</value></eventCode>"
        f"<expires>{_iso(6 * 3600)}</expires><headline>{headline}</headline>"
        "<description>预计未来12小时平均风力可达8级，阵风10级</description>"
        f"<area><areaDesc>朝阳区</areaDesc><polygon>{polygon}</polygon>"
        "<geocode><valueName>GB2260</valueName><value>110105</value></geocode></area></info>"
    )


def _ring(points: int) -> str:
    angles = [2 * math.pi * k / points for k in range(points)]
    coords = [f"{39.9 + 0.2 * math.sin(a):.5f},{116.4 + 0.2 * math.cos(a):.5f}" for a in angles]
    return " ".join([*coords, coords[0]])


def document(identifier: str, infos: str, msg_type: str = "Alert", declaration: str = "") -> str:
    return (
        f'{declaration}<alert xmlns="{NS}"><identifier>{identifier}</identifier>'
        f"<sender>bj@weather.example.cn</sender><sent>{_iso(-60)}</sent><status>Actual</status>"
        f"<msgType>{msg_type}</msgType><scope>Public</scope>{infos}</alert>"
    )


def documents() -> dict[str, bytes]:
    small = document("W1", _info("zh-CN", "大风", "大风黄色预警", _ring(4)))
    both = _info("zh-CN", "大风", "大风黄色预警", _ring(200)) + _info(
        "en-US", "Gale", "Gale Yellow", _ring(200)
    )
    refs = "<references>bj@weather.example.cn,W1,2026-12-02T08:00:00+08:00</references>"
    update = document("W2", refs + both, "Update")
    gb = document(
        "W3",
        _info("zh-CN", "大风", "大风黄色预警", _ring(4)),
        declaration='<?xml version="1.0" encoding="GB18030"?>',
    )
    return {"alert": small.encode(), "update_zh_en_polygon": update.encode(), "gb18030": gb.encode("gb18030")}


def rate(fn: Any, payload: bytes, seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while True:
        for _ in range(50):
            fn(payload)
        done += 50
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def _plain_gb18030(payload: bytes) -> object:
    # Expat takes no multi-byte encoding: the least any parser must do is decode first.
    return plain_et.fromstring(payload.decode("gb18030").split("?>", 1)[1])


def parse_figures(seconds: float) -> dict[str, dict[str, float]]:
    out = {}
    for name, payload in documents().items():
        ours = rate(parse_cap, payload, seconds)
        plain = rate(_plain_gb18030 if name == "gb18030" else plain_et.fromstring, payload, seconds)
        out[f"cap_parse_{name}"] = {
            "value": round(ours),
            "baseline": round(plain),
            "ratio": round(ours / plain, 3),
            "bytes": len(payload),
        }
    return out


SITE = """
site: {{id: bench, location: {{lat: 39.9, lon: 116.4}}}}
api:
  tokens: [{{role: platform, env: BENCH_PLATFORM}}]
alarms:
  store: alarms.db
  group_window_s: 0
  notify_cleared: false
  flood: {{enabled: false}}
  tiers: [{{name: officer, receivers: [hook]}}]
  receivers: [{{id: hook, type: webhook, url: "http://127.0.0.1:{port}/"}}]
"""


def _p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000.0 if ordered else float("nan")


async def _until(check: Callable[[], bool], within_s: float) -> bool:
    end = time.perf_counter() + within_s
    while True:
        if check():
            return True
        if time.perf_counter() > end:
            return False
        await asyncio.sleep(0.05)


async def _ours(count: int, per_s: float, folder: Path) -> tuple[float, int]:
    os.environ["BENCH_PLATFORM"] = "bench-platform-token"
    async with Receiver() as receiver:
        runtime = Runtime(parse_config(SITE.format(port=receiver.port)), base_dir=folder)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = ApiServer(create_app(runtime), sock)
        stop = asyncio.Event()
        run = asyncio.create_task(runtime.run(stop, services=[("api", server.run)]))
        headers = {"Authorization": "Bearer bench-platform-token", "Content-Type": "application/xml"}
        started: dict[str, float] = {}
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                if not await _until(lambda: server.started and runtime.resumed is not None, 20):
                    raise RuntimeError("the gateway did not start within 20 s")
                t0 = time.perf_counter()
                for i in range(count):
                    await asyncio.sleep(max(0.0, t0 + i / per_s - time.perf_counter()))
                    body = document(f"B{i}", _info("zh-CN", "大风", "大风黄色预警", _ring(20))).encode()
                    sent = time.perf_counter()
                    answer = await client.post("/api/v1/warnings/cap", content=body, headers=headers)
                    if answer.status_code != 200:
                        raise RuntimeError(f"POST refused: {answer.status_code} {answer.text}")
                    alarm_id = answer.json()["applied"][0]["warning"]["alarm_id"]
                    started[alarm_id] = sent
                await _until(lambda: len(receiver.first_seen) >= count, 30)
        finally:
            stop.set()
            await asyncio.wait_for(run, 15)
        latencies = [receiver.first_seen[a] - t for a, t in started.items() if a in receiver.first_seen]
        return _p99(latencies), len(latencies)


async def _direct(count: int, per_s: float) -> tuple[float, int]:
    async with Receiver() as receiver, httpx.AsyncClient(timeout=10) as client:
        started: dict[str, float] = {}
        t0 = time.perf_counter()
        for i in range(count):
            await asyncio.sleep(max(0.0, t0 + i / per_s - time.perf_counter()))
            started[f"d{i}"] = time.perf_counter()
            await client.post(f"http://127.0.0.1:{receiver.port}/", content=json.dumps({"alarm_id": f"d{i}"}))
        latencies = [receiver.first_seen[a] - t for a, t in started.items() if a in receiver.first_seen]
        return _p99(latencies), len(latencies)


def push_figure(count: int, per_s: float) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="smartsite-bench-cap-") as folder:
        ours, arrived = asyncio.run(_ours(count, per_s, Path(folder)))
    direct, _ = asyncio.run(_direct(count, per_s))
    return {
        "post_to_push_p99_ms": {
            "value": round(ours, 1),
            "baseline": round(direct, 1),
            "ratio": round(ours / direct, 2),
            "arrived": arrived,
            "sent": count,
            "per_s": per_s,
        }
    }


def main(args: list[str]) -> int:
    quick = "--quick" in args
    figures = parse_figures(0.5 if quick else 2.0)
    figures |= push_figure(40 if quick else 200, 4.0)  # under the API's 5 changes/s per token
    if "--json" in args:
        print(json.dumps(figures, indent=2))
    else:
        for name, f in figures.items():
            print(f"{name:34} {f['value']:>10} baseline {f['baseline']:>10} ratio {f['ratio']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
