"""The bus hub against real pymodbus slaves: RTU over TCP (socket://), Modbus TCP, socat pty pairs.

Each fault (a slave gone silent, exception answers, the port closed, noise on the line) must leave
no crash, the right quality flags and reasons, the other slaves on schedule, and recovery within one
poll period after the fault ends.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from drivers.modbus import BusSpec, DeviceSpec, ModbusHub
from gateway.vocab import Quality, ReadingBatch
from tests.drivers.modbus.slaves import MAP, PtyPair, Slaves, expected
from tests.support import eventually, free_port, in_background

pytestmark = pytest.mark.timeout(60)

UNITS = [1, 2, 3]
POLL_S = 0.2


@pytest.fixture(autouse=True)
def _quiet_pymodbus() -> None:
    # pymodbus logs every timeout and bad frame; the hub's own once-per-outage lines are under test.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def device(unit: int, poll_s: float = POLL_S, timeout_s: float = 0.05, retries: int = 1) -> DeviceSpec:
    registers = tuple(replace(r, column=unit * 10 + r.column) for r in MAP)
    return DeviceSpec(f"dev{unit}", unit, registers, poll_s=poll_s, timeout_s=timeout_s, retries=retries)


class Run:
    """A hub polling in the background; its batches, by slave, with the wall time they arrived."""

    def __init__(self, hub: ModbusHub) -> None:
        self.hub = hub
        self.by_unit: dict[int, list[ReadingBatch]] = defaultdict(list)

    async def _consume(self) -> None:
        async with self.hub:
            async for item in self.hub.batches():
                batch = item.readings
                self.by_unit[int(batch.channel[0]) // 10].append(batch)

    def good(self, unit: int, since: float = 0.0) -> list[ReadingBatch]:
        return [b for b in self.by_unit[unit] if b.ts[0] >= since and (b.quality == 0).all()]

    def bad(self, unit: int, since: float = 0.0) -> list[ReadingBatch]:
        return [b for b in self.by_unit[unit] if b.ts[0] >= since and (b.quality == Quality.BAD_COMM).all()]

    def period(self, unit: int, since: float) -> float:
        """Mean time between polls from ``since`` on (phase kept: late polls do not add up)."""
        stamps = [b.ts[0] for b in self.by_unit[unit] if b.ts[0] >= since]
        assert len(stamps) >= 4, stamps
        return (stamps[-1] - stamps[0]) / (len(stamps) - 1)


@contextlib.asynccontextmanager
async def running(hub: ModbusHub) -> AsyncIterator[Run]:
    run = Run(hub)
    async with in_background(run._consume()) as task:
        yield run
    assert task.cancelled(), "the hub's loop ended on its own"


def assert_values(batch: ReadingBatch, unit: int) -> None:
    for column, value in zip(batch.channel.tolist(), batch.value.tolist(), strict=True):
        quantity = next(r.quantity for r in MAP if r.column == column - unit * 10)
        assert value == pytest.approx(expected(unit, quantity), rel=1e-6), quantity


async def answering_again(run: Run, unit: int, cure: Callable[[], None], what: str) -> float:
    """``cure`` the slave; its first good poll comes within a poll period. Answers when it was cured."""
    back_at = time.time()
    cure()
    first = (await eventually(lambda: run.good(unit, back_at), 5, what))[0]
    assert first.ts[0] - back_at <= POLL_S + 0.1
    return back_at


async def warm_up(run: Run, polls: int = 3) -> None:
    await eventually(
        lambda: all(len(run.good(u)) >= polls for u in UNITS), 10, f"{polls} good polls of every slave"
    )


@pytest.fixture
async def socket_slaves() -> AsyncIterator[tuple[Slaves, int]]:
    port = free_port()
    slaves = Slaves(UNITS)
    await slaves.start(f"socket://127.0.0.1:{port}")
    yield slaves, port
    await slaves.stop()


@pytest.fixture
def pty(tmp_path: Path) -> Iterator[PtyPair]:
    pair = PtyPair(tmp_path)
    pair.start()
    yield pair
    pair.stop()


def rtu_over_tcp(port: int, *devices: DeviceSpec, **more: object) -> BusSpec:
    return BusSpec("b1", kind="rtu_over_tcp", host="127.0.0.1", tcp_port=port, devices=devices, **more)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["rtu_over_tcp", "serial_url"])
async def test_several_slaves_over_socket(kind: str, socket_slaves: tuple[Slaves, int]) -> None:
    _, port = socket_slaves
    devices = tuple(device(u) for u in UNITS)
    if kind == "serial_url":
        bus = BusSpec("b1", kind="serial", port=f"socket://127.0.0.1:{port}", devices=devices)
    else:
        bus = rtu_over_tcp(port, *devices)
    async with running(ModbusHub(bus)) as run:
        await warm_up(run, 5)
    for unit in UNITS:
        for batch in run.by_unit[unit]:
            assert (batch.quality == Quality.GOOD).all()
            assert_values(batch, unit)
            assert len(set(batch.ts.tolist())) <= 3  # stamped per request (3 per poll), not per value
        assert run.period(unit, 0.0) == pytest.approx(POLL_S, rel=0.1)
        counters = run.hub.counters()[f"dev{unit}"]
        assert counters["requests"] == counters["responses"] == 3 * counters["polls"]
        assert counters["errors"] == {}


async def test_modbus_tcp_framing() -> None:
    port = free_port()
    slaves = Slaves(UNITS)
    await slaves.start_tcp(port)
    try:
        bus = BusSpec("eth", kind="tcp", host="127.0.0.1", tcp_port=port, devices=(device(1), device(2)))
        async with running(ModbusHub(bus)) as run:
            await eventually(lambda: len(run.good(1)) >= 2 and len(run.good(2)) >= 2, 10, "two polls")
        assert_values(run.good(2)[0], 2)
    finally:
        await slaves.stop()


async def test_slave_removed_mid_run(
    socket_slaves: tuple[Slaves, int], caplog: pytest.LogCaptureFixture
) -> None:
    slaves, port = socket_slaves
    caplog.set_level(logging.WARNING, logger="drivers.modbus.hub")
    async with running(ModbusHub(rtu_over_tcp(port, *(device(u) for u in UNITS)))) as run:
        await warm_up(run)
        removed_at = time.time()
        slaves.silent.add(2)
        await eventually(lambda: len(run.bad(2, removed_at)) >= 7, 10, "seven failed polls of slave 2")
        for batch in run.bad(2, removed_at):
            assert all(math.isnan(v) for v in batch.value.tolist())
        settled = run.bad(2, removed_at)[1].ts[0]  # the first failure's retries delay one round
        for unit in (1, 3):
            assert not run.bad(unit)
            assert run.period(unit, settled) == pytest.approx(POLL_S, rel=0.1)
        assert run.period(2, removed_at) == pytest.approx(POLL_S, rel=0.1)  # retried every poll
        back_at = await answering_again(run, 2, slaves.silent.clear, "slave 2 back")
    counters = run.hub.counters()["dev2"]
    assert counters["errors"]["timeout"] >= 5
    assert counters["last_error"].startswith("timeout")
    assert counters["last_good_ts"] >= back_at
    lines = [r.getMessage() for r in caplog.records if "dev2" in r.getMessage()]
    assert len(lines) == 2, lines  # one line for the failure, one for the recovery
    assert "failed: timeout" in lines[0] and "recovered" in lines[1]


async def test_slave_answering_exceptions(socket_slaves: tuple[Slaves, int]) -> None:
    slaves, port = socket_slaves
    async with running(ModbusHub(rtu_over_tcp(port, *(device(u) for u in UNITS)))) as run:
        await warm_up(run)
        since = time.time()
        slaves.refusing.add(3)
        await eventually(lambda: len(run.bad(3, since)) >= 3, 10, "three refused polls of slave 3")
        assert len(run.good(1, since)) >= 2 and not run.bad(1)
        await answering_again(run, 3, slaves.refusing.clear, "slave 3 answering")
    counters = run.hub.counters()["dev3"]
    assert counters["errors"]["exception"] >= 3
    assert "exception code 6" in counters["last_error"]
    assert "timeout" not in counters["errors"]  # an answer, even a refusal, is not a timeout


async def test_several_slaves_on_a_pty(pty: PtyPair) -> None:
    slaves = Slaves(UNITS)
    await slaves.start(pty.b)
    try:
        bus = BusSpec("rs485", kind="serial", port=pty.a, devices=tuple(device(u) for u in UNITS))
        async with running(ModbusHub(bus)) as run:
            await warm_up(run, 4)
            since = time.time()
            slaves.silent.add(1)
            await eventually(lambda: len(run.bad(1, since)) >= 6, 10, "slave 1 silent")
            settled = run.bad(1, since)[1].ts[0]
            assert run.period(2, settled) == pytest.approx(POLL_S, rel=0.1)
            assert run.period(3, settled) == pytest.approx(POLL_S, rel=0.1)
        for unit in (2, 3):
            assert not run.bad(unit)
            assert_values(run.good(unit)[-1], unit)
    finally:
        await slaves.stop()


async def test_pty_closed_and_reopened(pty: PtyPair, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="drivers.modbus.hub")
    slaves = Slaves(UNITS)
    await slaves.start(pty.b)
    bus = BusSpec("rs485", kind="serial", port=pty.a, devices=tuple(device(u) for u in UNITS))
    hub = ModbusHub(bus)
    try:
        async with running(hub) as run:
            await warm_up(run)
            gone_at = time.time()
            await slaves.stop()
            pty.stop()
            await eventually(lambda: all(len(run.bad(u, gone_at)) >= 3 for u in UNITS), 10, "every slave bad")
            assert hub.bus_outage.down and not hub.connected
            pty.start()
            await slaves.start(pty.b)
            back_at = time.time()
            await eventually(
                lambda: all(len(run.good(u, back_at)) >= 4 for u in UNITS), 10, "every slave back"
            )
            for unit in UNITS:
                assert run.good(unit, back_at)[0].ts[0] - back_at <= POLL_S + 0.1
                assert run.period(unit, back_at) == pytest.approx(POLL_S, rel=0.25)
        assert hub.opens == 2
        assert all(hub.counters()[f"dev{u}"]["errors"].get("port", 0) >= 2 for u in UNITS)
    finally:
        await slaves.stop()
    bus_lines = [r.getMessage() for r in caplog.records if "Modbus bus rs485" in r.getMessage()]
    assert len(bus_lines) == 2, bus_lines
    assert "failed" in bus_lines[0] and "recovered" in bus_lines[1]


async def test_noise_on_the_line_never_passes_a_wrong_value(pty: PtyPair) -> None:
    slaves = Slaves(UNITS, noise=0.1)
    await slaves.start(pty.b)
    fast = tuple(device(u, poll_s=0.05, timeout_s=0.04) for u in UNITS)
    try:
        hub = ModbusHub(BusSpec("rs485", kind="serial", port=pty.a, devices=fast))
        async with running(hub) as run:
            await eventually(lambda: sum(len(run.by_unit[u]) for u in UNITS) >= 150, 30, "150 polls")
        assert slaves.corrupted > 10
        for unit in UNITS:
            good = run.good(unit)
            assert len(good) > len(run.by_unit[unit]) // 2
            for batch in run.by_unit[unit]:
                ok = batch.quality == Quality.GOOD
                bad = batch.quality == Quality.BAD_COMM
                assert (ok | bad).all()
            for batch in good:
                assert_values(batch, unit)
        kinds: Counter[str] = Counter()
        for counters in hub.counters().values():
            kinds.update(counters["errors"])
        # A flipped request goes unanswered or draws an exception; a flipped answer fails its CRC.
        assert kinds["crc"] > 0 and set(kinds) <= {"crc", "timeout", "exception"}, kinds
    finally:
        await slaves.stop()


async def test_dtu_link_dropped_and_back(socket_slaves: tuple[Slaves, int]) -> None:
    slaves, port = socket_slaves
    hub = ModbusHub(rtu_over_tcp(port, *(device(u) for u in UNITS), reopen_cap_s=0.1))
    async with running(hub) as run:
        await warm_up(run)
        gone_at = time.time()
        await slaves.stop()
        await eventually(lambda: all(len(run.bad(u, gone_at)) >= 2 for u in UNITS), 10, "every slave bad")
        await slaves.start(f"socket://127.0.0.1:{port}")
        back_at = time.time()
        await eventually(lambda: all(run.good(u, back_at) for u in UNITS), 10, "every slave back")
        for unit in UNITS:
            assert run.good(unit, back_at)[0].ts[0] - back_at <= POLL_S + 0.1
    assert hub.opens == 2


async def test_poll_period_changed_at_run_time(socket_slaves: tuple[Slaves, int]) -> None:
    _, port = socket_slaves
    hub = ModbusHub(rtu_over_tcp(port, device(1, poll_s=1.0)))
    assert not hub.set_poll_period("nope", 0.1)
    with pytest.raises(ValueError):
        hub.set_poll_period("dev1", 0.0)
    async with running(hub) as run:
        await eventually(lambda: len(run.good(1)) >= 1, 10, "a first poll")
        faster_since = time.time()
        assert hub.set_poll_period("dev1", 0.1)
        # At once, not after the current 1-s period: 8 polls come well before 8 s.
        await eventually(lambda: len(run.good(1, faster_since)) >= 8, 4, "faster polls")
        assert run.period(1, faster_since + 0.3) == pytest.approx(0.1, rel=0.2)
        assert hub.poll_periods() == {"dev1": 0.1}
        hub.set_poll_period("dev1", None)
        back_since = time.time() + 0.2
        await eventually(lambda: len(run.good(1, back_since)) >= 4, 10, "polls at the configured period")
        assert run.period(1, back_since) == pytest.approx(1.0, rel=0.1)
        assert hub.poll_periods() == {"dev1": 1.0}
