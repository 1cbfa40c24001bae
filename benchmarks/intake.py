"""Benchmark: MQTT intake of a real ``smartsite run`` process, from sensor broker to platform uplink.

200 MQTT devices x 5 quantities, a threshold, a rate and a quality rule on every channel, the SQLite
store, the MQTT uplink to a second broker, QoS 1 and a persistent session. A raw publisher process
(pre-encoded MQTT PUBLISH packets on a socket, QoS 1, paced) offers ``--rate`` messages/s for
``--seconds``, each with one reading (``--per-message 1``) or several; a subscriber process on the
platform broker takes every telemetry message and notes each reading's delay (arrival at the
platform - the reading's time stamp, which the publisher set when it sent it). Figures: readings
offered and kept, kept per second over the window, delay p50/p99, and what was missing once the
load ended and the gateway caught up (lost). The load runs ``--warmup`` seconds (5) before the
measured window, which the delays leave out (a gateway just started, an empty store file); the p99
with them is printed too, and the worst p99 of any one second of the window.

The baseline in the same run: ``--baseline-tree DIR`` runs the same load against another checkout
(e.g. ``git worktree add /tmp/before <commit>``) and prints the ratio of what each kept per second.

    .venv/bin/python benchmarks/intake.py --rate 10000 --seconds 30
    .venv/bin/python benchmarks/intake.py --rate 10000 --per-message 5 --seconds 30
    .venv/bin/python benchmarks/intake.py --rate 3000 --baseline-tree /tmp/before
    .venv/bin/python benchmarks/intake.py --rate 10000 --seconds 30 --overload 3   # 3x for 60 s

With ``INTAKE_SAMPLES=FILE`` an overload run appends each second's health sample (the uplink's
counters, the store writer's, the intake's) to FILE as a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.raw_mqtt import connect_packet, publish_packet  # noqa: E402
from tests.support import MOSQUITTO, free_port, wait_for_port  # noqa: E402

DEVICES = 200
QUANTITIES = 5
SITE = "bench"
ALARM_HALF_PERIOD_S = 5.0  # d0.q0 above its red limit for 5 s, then under it for 5 s
# The sensor broker's QoS 1 window towards the gateway and its queue per client (--inflight, --queue).
BROKER = {"inflight": 1000, "queue": 1_000_000}
STILL_S = 15.0  # a store that has not grown for this long after the load has caught up


def broker_conf(folder: Path, port: int) -> Path:
    """A site broker tuned as docs/forwarding.md says: a deep queue, a wide in-flight window."""
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        f"max_queued_messages {BROKER['queue']}\nmax_inflight_messages {BROKER['inflight']}\n"
        f"user root\nlog_dest file {folder}/mosquitto.log\n"
    )
    return conf


def site_yaml(sensor_port: int, platform_port: int, api_port: int, db: Path, window: bool = True) -> str:
    """``window``: tell the gateway the broker's in-flight window (a key older trees do not know)."""
    inflight = f", inflight_window: {BROKER['inflight']}" if window else ""
    quantities = ", ".join(f"q{q}: {{unit: mm, range: [-1000, 1000]}}" for q in range(QUANTITIES))
    devices = "\n".join(f"  - {{id: d{d}, type: mqtt, channels: {{{quantities}}}}}" for d in range(DEVICES))
    return f"""
site: {{id: {SITE}}}
mqtt: {{url: "mqtt://127.0.0.1:{sensor_port}", client_id: {SITE}-in{inflight}}}
devices:
{devices}
rules:
  - {{id: high, type: threshold, channels: ["*"], upper: {{yellow: 500, red: 800}}, hysteresis: 1}}
  - {{id: fast, type: rate, channels: ["*"], window_s: 60, per: minute, upper: {{yellow: 5000}}}}
  - {{id: sane, type: quality, channels: ["*"]}}
sinks:
  - {{type: sqlite, path: {db}}}
  - {{type: mqtt, broker: "mqtt://127.0.0.1:{platform_port}", backlog_rate: 200000}}
api: {{port: {api_port}}}
"""


# The raw publisher (a child process): pre-encoded PUBLISH packets, QoS 1, paced in 10 ms steps.


def _drain(sock: socket.socket) -> int:
    got = 0
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return got
            got += len(data)
    except BlockingIOError:
        return got


class Schedule:
    """Offered rates in phases (``[(messages/s, seconds), ...]``): which message is due when."""

    def __init__(self, phases: list[tuple[float, float]]) -> None:
        self.phases = phases
        self.seconds = sum(d for _, d in phases)

    def due(self, t: float) -> int:
        """Messages due by ``t`` seconds after the start."""
        done, began = 0.0, 0.0
        for rate, length in self.phases:
            if t < began + length:
                return int(done + (t - began) * rate) + 1
            done, began = done + rate * length, began + length
        return int(done)

    def when(self, n: int) -> float:
        """Seconds after the start at which message ``n`` is due."""
        done, began = 0.0, 0.0
        for rate, length in self.phases:
            if n < done + rate * length:
                return began + (n - done) / rate
            done, began = done + rate * length, began + length
        return began


def publisher_main(port: int, rate: float, seconds: float, per_message: int, phases: str = "") -> None:
    """``phases`` ("rate:seconds,..."), when given, replaces the steady ``rate`` for ``seconds``."""
    schedule = Schedule(
        [(float(r), float(d)) for r, d in (p.split(":") for p in phases.split(","))]
        if phases
        else [(rate, seconds)]
    )
    seconds = schedule.seconds
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet(f"pub-{os.getpid()}"))
    assert sock.recv(4)[:1] == b"\x20", "no CONNACK"
    sock.setblocking(False)
    received = 0  # bytes after the CONNACK: only PUBACKs (4 bytes each) come back
    sent = 0
    start = time.time()
    step_s = 0.01
    topics = [f"smartsite/{SITE}/devices/d{d}/up" for d in range(DEVICES)]
    pending = b""
    while True:
        now = time.time()
        if now - start >= seconds:
            break
        due = schedule.due(now - start)
        packets = []
        while sent < due:
            device = sent % DEVICES
            quantity = (sent // DEVICES) % QUANTITIES
            values = {
                f"q{(quantity + k) % QUANTITIES}": round((sent % 400) * 0.5, 1) for k in range(per_message)
            }
            # Stamped with the time it was due: unique per channel, and a publisher that falls
            # behind shows as delay instead of hiding it.
            at = schedule.when(sent)
            if device == 0 and "q0" in values:
                values["q0"] = 900.0 if int(at / ALARM_HALF_PERIOD_S) % 2 else 100.0
            payload = json.dumps({"ts": round(start + at, 6), "values": values}).encode()
            packets.append(publish_packet(topics[device], payload, sent % 65535 + 1))
            sent += 1
        pending += b"".join(packets)
        try:
            while pending:
                n = sock.send(pending)
                pending = pending[n:]
        except BlockingIOError:
            pass
        received += _drain(sock)
        time.sleep(max(0.0, step_s - (time.time() - now)))
    wall_s = time.time() - start
    sock.setblocking(True)
    sock.sendall(pending)
    sock.setblocking(False)
    deadline = time.time() + 30  # every PUBACK, bounded
    while received // 4 < sent and time.time() < deadline:
        received += _drain(sock)
        time.sleep(0.01)
    acked = received // 4
    done = {
        "sent": sent,
        "acknowledged": acked,
        "readings": acked * per_message,
        "wall_s": wall_s,
        "start": start,
    }
    print(json.dumps(done), flush=True)
    sock.close()


# The platform's subscriber (a child process): every telemetry message, each reading's delay.


def subscriber_main(port: int) -> None:
    from datetime import datetime

    import paho.mqtt.client as mqtt

    delays: list[float] = []
    stamps: list[float] = []  # each reading's own time, beside its delay
    alarm_delays: list[float] = []
    keys: set[tuple[str, str]] = set()
    first: list[float] = []
    per_second: dict[int, int] = {}  # readings arriving in each wall-clock second

    def on_message(_c: Any, _u: Any, message: Any) -> None:
        now = time.time()
        body = json.loads(message.payload)
        if message.topic.endswith("/alarms"):
            for event in body if isinstance(body, list) else [body]:
                if event.get("state") == "raised":
                    alarm_delays.append(now - datetime.fromisoformat(event["ts"]).timestamp())
            return
        second = int(now)
        per_second[second] = per_second.get(second, 0) + len(body["readings"])
        for r in body["readings"]:
            keys.add((r["channel"], r["ts"]))
            at = datetime.fromisoformat(r["ts"]).timestamp()
            stamps.append(at)
            delays.append(now - at)
        if not first:
            first.append(now)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-platform", clean_session=True)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe(f"smartsite/{SITE}/telemetry", qos=1)
    client.subscribe(f"smartsite/{SITE}/alarms", qos=1)
    client.loop_start()
    print("subscribed", flush=True)
    # Told to stop, with the time the measured window began (readings before it warmed up).
    window_from = float(sys.stdin.readline().split()[1])
    client.loop_stop()
    import numpy as np

    stamp, delay = np.asarray(stamps), np.asarray(delays)
    in_window = stamp >= window_from
    measured, seconds = delay[in_window], np.floor(stamp[in_window])
    worst = max((np.quantile(measured[seconds == t], 0.99) for t in np.unique(seconds)), default=None)
    n = len(measured)
    print(
        json.dumps(
            {
                "readings": n,
                "distinct": len(keys),
                "p50_s": float(np.quantile(measured, 0.5)) if n else None,
                "p99_s": float(np.quantile(measured, 0.99)) if n else None,
                "p99_s_with_warmup": float(np.quantile(delay, 0.99)) if len(delay) else None,
                "worst_second_p99_s": None if worst is None else float(worst),
                "within_250ms": int((measured <= 0.25).sum()),
                "alarm_raises": len(alarm_delays),
                "alarm_delay_max_s": max(alarm_delays) if alarm_delays else None,
                "per_second": per_second,
            }
        ),
        flush=True,
    )


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def one_run(
    tree: Path,
    rate: float,
    seconds: float,
    per_message: int,
    window: bool = True,
    phases: list[tuple[float, float]] | None = None,
    warmup_s: float = 0.0,
) -> dict[str, Any]:
    """``phases``: offered rates in turn (``[(messages/s, seconds), ...]``) instead of ``rate``;
    the gateway's health is then sampled every second while the load runs. ``warmup_s``: the
    steady load runs this much longer first, and its readings are left out of the delays."""
    sampled = bool(phases)
    if phases:
        warmup_s = 0.0  # the first phase is the normal load already
    elif warmup_s:
        phases = [(rate, warmup_s), (rate, seconds)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sensor_port, platform_port, api_port = free_port(), free_port(), free_port()
        brokers = [
            subprocess.Popen([MOSQUITTO, "-c", str(broker_conf(folder / name, port))])
            for name, port in (("sensors", sensor_port), ("platform", platform_port))
        ]
        for port in (sensor_port, platform_port):
            wait_for_port(port)
        site = folder / "site.yaml"
        site.write_text(site_yaml(sensor_port, platform_port, api_port, folder / "store.db", window))
        log = (folder / "gateway.log").open("wb")
        gateway = subprocess.Popen(
            [sys.executable, "-m", "smartsite.cli", "run", "--config", str(site)],
            cwd=folder, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(tree)},
        )  # fmt: skip
        subscriber = _child("--subscriber", str(platform_port))
        try:
            assert subscriber.stdout is not None and subscriber.stdin is not None
            subscriber.stdout.readline()
            wait_for_port(api_port, 60)
            time.sleep(2.0)  # subscribed
            plan = ",".join(f"{r}:{d}" for r, d in phases) if phases else ""
            started = time.time()
            cpu_before = _cpu_seconds(gateway.pid)
            publisher = _child(
                "--publisher", str(sensor_port), str(rate), str(seconds), str(per_message), plan
            )  # fmt: skip
            assert publisher.stdout is not None
            watched = {"gateway": gateway.pid, "sensor broker": brokers[0].pid, "publisher": publisher.pid}
            samples = _sample_health(api_port, publisher, watched) if sampled else []
            out = publisher.stdout.readline()
            published = json.loads(out)
            gateway_cpu_s = _cpu_seconds(gateway.pid) - cpu_before
            publisher.wait(timeout=30)
            # Caught up: wait (bounded) until the store holds what was published, or has stopped
            # growing for a while (what the broker dropped never comes), then a moment more.
            deadline = time.monotonic() + (600 if phases else 120)
            stored, grew_at = 0, time.monotonic()
            while time.monotonic() < deadline and time.monotonic() - grew_at < STILL_S:
                now_stored = _stored(folder / "store.db")
                if now_stored > stored:
                    stored, grew_at = now_stored, time.monotonic()
                if stored >= published["readings"]:
                    break
                time.sleep(1.0)
            # And the platform caught up: the uplink's queue empty (the store's count of it is
            # refreshed every second), bounded like the wait above. After an overload the backlog
            # drains behind the live data; stopping before it would count it as lost.
            empty_polls = 0
            while time.monotonic() < deadline and empty_polls < 2:
                uplink = next(d for d in _health(api_port)["destinations"] if d["kind"] == "mqtt")
                empty_polls = empty_polls + 1 if uplink.get("queue_depth") == 0 else 0
                time.sleep(1.0)
            time.sleep(3.0)
            health = _health(api_port)
            subscriber.stdin.write(f"stop {published['start'] + warmup_s}\n")
            subscriber.stdin.flush()
            got = json.loads(subscriber.stdout.readline())
        finally:
            subscriber.kill()
            gateway.terminate()
            gateway.wait(timeout=20)
            log.close()
            for broker in brokers:
                broker.terminate()
                broker.wait(timeout=10)
    return {
        "tree": str(tree),
        "offered_messages_per_s": rate,
        "readings_per_message": per_message,
        "sent_messages": published["sent"],
        "published_readings": published["readings"],  # acknowledged by the broker
        "stored_readings": stored,
        "not_stored": published["readings"] - stored,  # e.g. dropped by the sensor broker's queue
        "platform_readings": got["distinct"],
        "lost": published["readings"] - got["distinct"],
        "on_time_share": round(got["within_250ms"] / max(1, got["readings"]), 4),
        "delay_p50_ms": _ms(got["p50_s"]),
        "delay_p99_ms": _ms(got["p99_s"]),
        "delay_p99_ms_worst_second": _ms(got["worst_second_p99_s"]),
        "delay_p99_ms_with_warmup": _ms(got["p99_s_with_warmup"]),
        # d0.q0 crosses its red limit every 10 s (nothing else alarms): each raise's arrival on the
        # platform minus its data time.
        "alarm_raises_on_platform": got["alarm_raises"],
        "alarm_delay_max_ms": None
        if got["alarm_delay_max_s"] is None
        else round(got["alarm_delay_max_s"] * 1000),
        # While the load ran: what a message costs the gateway, and its share of one core.
        "gateway_cpu_ms_per_1000_messages": round(gateway_cpu_s / max(1, published["sent"]) * 1e6, 1),
        "gateway_cpu_of_one_core": round(gateway_cpu_s / max(1e-9, published["wall_s"]), 2),
        "intake": health.get("intake"),
        "gateway_rejected": health["rejected"],
        "gateway_readings": health["readings"],
        "store_writer": health["store_writer"],
        **(_phase_figures(phases, started, got["per_second"], samples, per_message) if sampled else {}),
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sample_health(
    port: int, publisher: subprocess.Popen[str], watched: dict[str, int]
) -> list[dict[str, Any]]:
    """Every second while the publisher runs: the uplink's alarm wait, the intake's lag and the
    CPU seconds each watched process has used so far."""
    samples = []
    while publisher.poll() is None:
        began = time.time()
        cpu = {name: _cpu_seconds(pid) for name, pid in watched.items()}
        try:
            health = _health(port)
        except OSError:  # a gateway too busy to answer within the timeout is a figure too
            samples.append({"t": began, "answered": False, "cpu": cpu})
        else:
            uplink = next(d for d in health["destinations"] if d["kind"] == "mqtt")
            samples.append({
                "t": began, "answered": True, "alarm_wait_s": uplink.get("alarm_wait_s"), "cpu": cpu,
                "lag_s": (health.get("intake") or {}).get("lag_s"),
            })  # fmt: skip
            if os.environ.get("INTAKE_SAMPLES"):  # every sample in full, to see where it stalls
                with open(os.environ["INTAKE_SAMPLES"], "a") as trace:
                    sample = {"t": began, "uplink": uplink, "store_writer": health["store_writer"]}
                    trace.write(json.dumps({**sample, "intake": health.get("intake")}) + "\n")
        time.sleep(max(0.0, 1.0 - (time.time() - began)))
    return samples


def _phase_figures(
    phases: list[tuple[float, float]],
    started: float,
    per_second: dict[str, int],
    samples: list[dict[str, Any]],
    per_message: int,
) -> dict[str, Any]:
    """The platform's readings per second in each phase (its first 5 s left out: the gateway
    settles), and the longest alarm wait (store -> uplink PUBACK) and intake lag seen in each."""
    arrivals = {int(k): v for k, v in per_second.items()}  # JSON made the seconds strings
    figures: list[dict[str, Any]] = []
    begin = started
    for rate, length in phases:
        first, last = int(begin + 5), int(begin + length)
        got = sum(arrivals.get(t, 0) for t in range(first, last))
        inside = [x for x in samples if begin + 5 <= x["t"] < begin + length]
        waits = [x["alarm_wait_s"] for x in inside if x.get("alarm_wait_s") is not None]
        lags = [x["lag_s"] for x in inside if x.get("lag_s") is not None]
        span = inside[-1]["t"] - inside[0]["t"] if len(inside) > 1 else 0.0
        cpu_share = {
            name: round((inside[-1]["cpu"][name] - inside[0]["cpu"][name]) / span, 2)
            for name in (inside[0]["cpu"] if span else {})
        }  # of one core, averaged over the phase (its first 5 s left out)
        figures.append({
            "offered_readings_per_s": rate * per_message,
            "uplink_readings_per_s": round(got / max(1, last - first)),
            "alarm_wait_max_s": max(waits, default=None),
            "intake_lag_max_s": max(lags, default=None),
            "health_unanswered": sum(1 for x in inside if not x["answered"]),
            "cpu_of_one_core": cpu_share,
        })  # fmt: skip
        begin += length
    base = figures[0]["uplink_readings_per_s"]
    return {
        "phases": figures,
        "uplink_rate_vs_first_phase": [round(f["uplink_readings_per_s"] / max(1, base), 2) for f in figures],
    }


def _show(run: dict[str, Any]) -> None:
    print(f"{run['tree']}:")
    for key, value in run.items():
        if key != "tree":
            print(f"  {key:28} {value}", flush=True)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _health(port: int) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=5) as answer:
        body: dict[str, Any] = json.loads(answer.read())
    return body


def _stored(db: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])
    except sqlite3.Error:
        return 0


def main() -> None:
    if sys.argv[1:2] == ["--publisher"]:
        port, rate, seconds, per, *plan = sys.argv[2:7]
        publisher_main(int(port), float(rate), float(seconds), int(per), plan[0] if plan else "")
        return
    if sys.argv[1:2] == ["--subscriber"]:
        subscriber_main(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10_000, help="messages offered per second")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--per-message", type=int, default=1, help="readings per message")
    parser.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="seconds of the same load before the measured --seconds (a gateway just started, an "
        "empty store); their readings count for loss, not for the delays (without --overload)",
    )
    parser.add_argument("--baseline-tree", type=Path, help="another checkout, run with the same load")
    parser.add_argument(
        "--overload",
        type=float,
        metavar="FACTOR",
        help="--rate for --seconds, then FACTOR x --rate for 60 s, then --rate for 20 s: the uplink's "
        "rate in each phase against the first, and the alarms' wait",
    )
    parser.add_argument("--inflight", type=int, default=1000, help="the sensor broker's in-flight window")
    parser.add_argument("--queue", type=int, default=1_000_000, help="the sensor broker's queue per client")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    BROKER.update(inflight=args.inflight, queue=args.queue)
    phases = None
    if args.overload:
        phases = [(args.rate, args.seconds), (args.rate * args.overload, 60.0), (args.rate, 20.0)]
    runs = [one_run(ROOT, args.rate, args.seconds, args.per_message, phases=phases, warmup_s=args.warmup)]
    _show(runs[0])
    if args.baseline_tree is not None:
        baseline = args.baseline_tree.resolve()
        runs.append(one_run(baseline, args.rate, args.seconds, args.per_message, False, phases, args.warmup))
        _show(runs[1])
        on_time = [r["on_time_share"] for r in runs]
        p99 = [r["delay_p99_ms"] or 0.0 for r in runs]
        print(f"on time (<= 250 ms), this tree / baseline: {on_time[0]:.3f} / {on_time[1]:.3f}")
        print(f"delay p99, baseline / this tree: {p99[1] / max(1.0, p99[0]):.1f}x")
        cost = [r["gateway_cpu_ms_per_1000_messages"] for r in runs]
        print(f"gateway CPU per message, baseline / this tree: {cost[1] / max(1e-9, cost[0]):.2f}x")
    if args.json:
        print(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
