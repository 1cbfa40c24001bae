"""The serial relay: bytes take at least 10 bit-times each, noise flips bytes, stop is clean."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import serial

from simulators.serial_relay import SerialRelay, byte_time


def _open(path: str, baud: int) -> serial.Serial:
    return serial.Serial(path, baud, timeout=3)


def test_byte_time_is_ten_bits() -> None:
    assert byte_time(9600) == pytest.approx(1.0417e-3, rel=1e-3)
    assert byte_time(115200) == pytest.approx(10 / 115200)


@pytest.mark.parametrize("direction", ["to_device", "to_client"])
def test_each_byte_takes_at_least_ten_bit_times(direction: str) -> None:
    n = 96
    with SerialRelay(9600) as relay:
        client, device = _open(relay.client_port, 9600), _open(relay.device_port, 9600)
        sender, receiver = (client, device) if direction == "to_device" else (device, client)
        try:
            payload = bytes(range(n))
            started = time.monotonic()
            sender.write(payload)
            arrivals: list[float] = []
            got = b""
            while len(got) < n:
                chunk = receiver.read(1)
                assert chunk, "relay stalled"
                got += chunk
                arrivals.append(time.monotonic())
        finally:
            client.close()
            device.close()
    assert got == payload
    # The k-th byte cannot have arrived before k byte times (lower bounds only: no upper ones).
    for k, at in enumerate(arrivals, start=1):
        assert at - started >= k * relay.byte_s * 0.999
    assert relay.counters()[direction]["bytes_out"] == n


def test_both_directions_run_at_once() -> None:
    n = 48
    with SerialRelay(9600) as relay:
        client, device = _open(relay.client_port, 9600), _open(relay.device_port, 9600)
        try:
            started = time.monotonic()
            client.write(b"a" * n)
            device.write(b"b" * n)
            assert device.read(n) == b"a" * n
            assert client.read(n) == b"b" * n
            elapsed = time.monotonic() - started
        finally:
            client.close()
            device.close()
    # Full duplex: each direction has its own wire; neither beats baud/10.
    assert elapsed >= n * relay.byte_s * 0.999


def test_noise_flips_bytes_reproducibly() -> None:
    payload = bytes(200)
    outputs = []
    for _ in range(2):
        with SerialRelay(115200, noise=0.1, seed=7) as relay:
            client, device = _open(relay.client_port, 115200), _open(relay.device_port, 115200)
            try:
                client.write(payload)
                outputs.append(device.read(len(payload)))
            finally:
                client.close()
                device.close()
            flipped = relay.counters()["to_device"]["flipped"]
        changed = sum(1 for b in outputs[-1] if b != 0)
        assert changed == flipped > 0
    assert outputs[0] == outputs[1]


def test_noise_can_be_switched_off_while_running() -> None:
    with SerialRelay(115200, noise=1.0, seed=1) as relay:
        client, device = _open(relay.client_port, 115200), _open(relay.device_port, 115200)
        try:
            client.write(bytes(10))
            assert all(b != 0 for b in device.read(10))
            relay.noise = 0.0
            client.write(bytes(10))
            assert device.read(10) == bytes(10)
        finally:
            client.close()
            device.close()


def test_stop_ends_the_thread_and_removes_links(tmp_path: Path) -> None:
    relay = SerialRelay(9600, client_link=tmp_path / "gw", device_link=tmp_path / "dev").start()
    assert os.path.realpath(tmp_path / "gw") == relay.client_port
    assert os.path.realpath(tmp_path / "dev") == relay.device_port
    with _open(str(tmp_path / "gw"), 9600) as client, _open(str(tmp_path / "dev"), 9600) as device:
        client.write(b"hello")
        assert device.read(5) == b"hello"
    relay.stop()
    assert not relay.running
    assert not (tmp_path / "gw").exists() and not (tmp_path / "dev").exists()
    relay.stop()  # idempotent


def test_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        SerialRelay(0)
    with pytest.raises(ValueError):
        SerialRelay(9600, noise=1.5)
