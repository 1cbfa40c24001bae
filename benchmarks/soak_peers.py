"""The soak's sensor load and platform consumer, each a child process that keeps pace at 10,000 readings/s.

The sensors: ten devices, each sending its ten quantities in one QoS 1 message per round, written
as pre-encoded MQTT PUBLISH packets on a raw socket (an MQTT client library waiting for PUBACKs
reached about 1,800 readings/s). Each PUBACK is matched to its packet id, so what the broker took
is known per message. Round ``r`` is stamped ``start + r / rounds_per_s``: a reading is known by
its channel and round, and its stamp goes back to the round without a table of what was sent.

The platform: a paho client with a persistent session that reconnects by itself, counting each
reading it gets per (round, channel) in an array; duplicates show as counts above one.

Both write numpy files that the soak compares with the store (``count_stored``).
"""

from __future__ import annotations

import json
import socket
import sqlite3
import struct
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the repository on the path

from benchmarks.raw_mqtt import connect_packet, publish_packet  # noqa: E402

DEVICES = 10
QUANTITIES = 10
CHANNELS = DEVICES * QUANTITIES
SITE = "f1"  # tests.faults.harness.site_yaml's site
ALARM_CHANNEL = 0  # s0.q0: 15 for 2 s, then 5 for 2 s (its limit is 10, hysteresis 1)
HIGH_S = 2.0


def channel_index(name: str) -> int:
    device, quantity = name.split(".")
    return int(device[1:]) * QUANTITIES + int(quantity[1:])


def value(device: int, quantity: int, round_no: int, rounds_per_s: float) -> float:
    if device == 0 and quantity == 0:
        return 15.0 if int(round_no / (HIGH_S * rounds_per_s)) % 2 else 5.0
    return round(round_no * 0.001 + device + quantity / 10, 6)


def alarm_raises_expected(acknowledged: np.ndarray, rounds_per_s: float) -> int:
    """Rounds where s0.q0 went from low to high, counting only rounds the broker took."""
    rounds = np.flatnonzero(acknowledged[:, 0])
    high = (rounds / (HIGH_S * rounds_per_s)).astype(np.int64) % 2 == 1
    previous_high = np.concatenate([[False], high[:-1]])
    return int(np.count_nonzero(high & ~previous_high))


def publisher_main(port: int, start: float, rounds_per_s: float, seconds: float, out: Path) -> None:
    """Publish until ``seconds`` after ``start``; ``out``: the acknowledged (round, device) array."""
    rounds_total = int(seconds * rounds_per_s) + 1
    acknowledged = np.zeros((rounds_total, DEVICES), dtype=np.uint8)
    in_flight: dict[int, int] = {}  # packet id -> message number (round * DEVICES + device)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet("soak-sensors"))
    if sock.recv(4)[:1] != b"\x20":
        raise SystemExit("the sensor broker sent no CONNACK")
    sock.setblocking(False)
    topics = [f"smartsite/{SITE}/devices/s{d}/up" for d in range(DEVICES)]
    sent_rounds, pending, inbox = 0, b"", b""
    time.sleep(max(0.0, start - time.time()))

    def take_acks() -> None:
        nonlocal inbox
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    raise SystemExit("the sensor broker closed the connection")
                inbox += data
        except BlockingIOError:
            pass
        whole = len(inbox) // 4 * 4  # only PUBACKs (4 bytes each) come back
        for offset in range(0, whole, 4):
            message = in_flight.pop(struct.unpack_from("!H", inbox, offset + 2)[0], None)
            if message is not None:
                acknowledged[divmod(message, DEVICES)] = 1
        inbox = inbox[whole:]

    while time.time() - start < seconds:
        step_began = time.time()
        due = min(rounds_total, int((step_began - start) * rounds_per_s) + 1)
        packets = []
        for r in range(sent_rounds, due):
            ts = round(start + r / rounds_per_s, 3)
            for d in range(DEVICES):
                values = {f"q{q}": value(d, q, r, rounds_per_s) for q in range(QUANTITIES)}
                message = r * DEVICES + d
                mid = message % 65535 + 1
                if mid in in_flight:
                    raise SystemExit("65,535 messages unacknowledged: the broker stopped answering")
                in_flight[mid] = message
                payload = json.dumps({"ts": ts, "values": values}).encode()
                packets.append(publish_packet(topics[d], payload, mid))
        sent_rounds = max(sent_rounds, due)
        pending += b"".join(packets)
        try:
            while pending:
                pending = pending[sock.send(pending) :]
        except BlockingIOError:
            pass
        take_acks()
        time.sleep(max(0.0, 0.01 - (time.time() - step_began)))
    sock.setblocking(True)
    sock.sendall(pending)
    sock.setblocking(False)
    deadline = time.time() + 30  # the last PUBACKs, bounded
    while in_flight and time.time() < deadline:
        take_acks()
        time.sleep(0.01)
    sock.close()
    np.save(out, acknowledged[:sent_rounds])
    print(json.dumps({"rounds": sent_rounds, "unacknowledged": len(in_flight)}), flush=True)


def consumer_main(port: int, start: float, rounds_per_s: float, seconds: float, folder: Path) -> None:
    """Count every reading and alarm the platform gets until told to stop on stdin."""
    import paho.mqtt.client as mqtt

    counts = np.zeros((int(seconds * rounds_per_s) + 2, CHANNELS), dtype=np.uint16)
    names: dict[str, int] = {}
    figures = {"messages": 0, "readings": 0, "foreign": 0, "alarm_raises": 0, "gateway_alarm_raises": 0}
    raise_ids: set[str] = set()  # s0.q0's; an event sent again after a restart is the same event
    gateway_raise_ids: set[str] = set()  # the gateway's own (store failing, intake behind)

    def on_connect(client: Any, _u: Any, _f: Any, _rc: Any, _p: Any = None) -> None:
        client.subscribe([(f"smartsite/{SITE}/telemetry", 1), (f"smartsite/{SITE}/alarms", 1)])

    def on_message(_c: Any, _u: Any, message: Any) -> None:
        body = json.loads(message.payload)
        figures["messages"] += 1
        if message.topic.endswith("/alarms"):
            events = body if isinstance(body, list) else [body]
            for event in events:
                if event.get("state") != "raised":
                    continue
                if event.get("channel") == "s0.q0":
                    raise_ids.add(str(event.get("id")))
                elif str(event.get("channel")).startswith("gateway."):
                    gateway_raise_ids.add(str(event.get("id")))
            figures["alarm_raises"] = len(raise_ids)
            figures["gateway_alarm_raises"] = len(gateway_raise_ids)
            return
        for reading in body["readings"]:
            channel = names.get(reading["channel"])
            if channel is None:
                channel = names[reading["channel"]] = channel_index(reading["channel"])
            at = datetime.fromisoformat(reading["ts"]).timestamp()
            r = round((at - start) * rounds_per_s)
            if 0 <= r < len(counts):
                counts[r, channel] += 1
                figures["readings"] += 1
            else:
                figures["foreign"] += 1

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="soak-platform", clean_session=False)
    client.on_connect = on_connect
    client.on_message = on_message
    client.reconnect_delay_set(0.5, 2.0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    print("started", flush=True)
    for line in sys.stdin:  # "count": how many distinct readings so far; anything else: stop
        if line.strip() != "count":
            break
        print(int(np.count_nonzero(counts)), flush=True)
    client.loop_stop()
    np.save(folder / "platform_counts.npy", counts)
    print(json.dumps(figures), flush=True)


def count_stored(db: Path, start: float, rounds_per_s: float, rounds: int) -> tuple[np.ndarray, int]:
    """Per (round, channel), how many times the store holds the reading; and rows outside the load."""
    counts = np.zeros(rounds * CHANNELS, dtype=np.int64)
    foreign = 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        ids = {cid: channel_index(name) for cid, name in conn.execute("SELECT id, name FROM channels")}
        lookup = np.full(max(ids, default=0) + 1, -1, dtype=np.int64)
        for cid, index in ids.items():
            lookup[cid] = index
        cursor = conn.execute("SELECT channel, ts FROM readings")
        while rows := cursor.fetchmany(500_000):
            table = np.array(rows, dtype=np.float64)
            channel = lookup[table[:, 0].astype(np.int64)]
            r = np.rint((table[:, 1] - start) * rounds_per_s).astype(np.int64)
            inside = (channel >= 0) & (r >= 0) & (r < rounds)
            foreign += int(np.count_nonzero(~inside))
            counts += np.bincount(r[inside] * CHANNELS + channel[inside], minlength=len(counts))
    return counts.reshape(rounds, CHANNELS), foreign


def stored_rows(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2) as conn:
            return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])
    except sqlite3.Error:
        return 0


def main() -> None:
    role, port, start, rate, seconds, path = sys.argv[1:7]
    args = (int(port), float(start), float(rate), float(seconds), Path(path))
    if role == "--publisher":
        publisher_main(*args)
    elif role == "--consumer":
        consumer_main(*args)
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main()
