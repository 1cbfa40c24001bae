"""Figures 'modbus_throughput' and 'modbus_dead_slave': one RS-485 bus at 9600 baud, 16 slaves.

The bus is simulated end to end: :class:`simulators.serial_relay.SerialRelay` joins two
pseudo-terminals with real serial timing (10 bit-times per byte) and
:class:`simulators.modbus_slaves.SlaveBus` serves 16 slaves behind it with pymodbus's RTU server,
each answering after the 3.5-character end-of-frame silence plus its turnaround.

* Throughput: the slaves are read one at a time, back to back (``registers`` holding registers
  each). The theoretical limit of the bus is one transaction per
  ``(8 + 5 + 2N + 3.5 + 3.5) characters + turnaround``: request, response, the silence after
  each, and the device's own delay. The figure is the transactions/s achieved; its ratio is
  achieved / limit (target >= 0.90).
* Dead slave: every slave is polled once per ``period_s`` (1 s), one of them is silent and costs
  its full timeout (0.2 s) each period; the schedule has room for it (15 x ~34 ms + 0.2 s < 1 s).
  The figure is the measured mean period of the live slave that strays furthest from the
  configured one; its ratio is measured / configured (target within 0.90 .. 1.10).

The poller is the gateway's own :class:`drivers.modbus.ModbusHub` (``poller="hub"``); ``"plain"``
is a bare pymodbus client with the same gap and the same due-time schedule, for comparison.
The event loop runs on ``select()``: epoll and poll round timer waits up to whole milliseconds,
which alone would cost a 9600-baud bus several percent (a 3.6 ms gap becomes 4-5 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import selectors
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from smartsite.bench.figures import Figure, Sizes

Poller = Literal["hub", "plain"]

REQUEST_BYTES = 8  # unit, function, address (2), count (2), CRC (2)
GAP_CHARS = 3.5
BITS_PER_CHAR = 10  # 8N1


@dataclass(frozen=True, slots=True)
class BusBench:
    baud: int = 9600
    slaves: int = 16
    registers: int = 4  # holding registers read from each slave per transaction
    turnaround_s: float = 0.005  # each slave's own delay before it answers
    throughput_s: float = 10.0  # measuring time, back-to-back polling
    period_s: float = 1.0  # poll period of every slave in the dead-slave run
    timeout_s: float = 0.2  # client timeout in the dead-slave run
    dead_unit: int = 8
    dead_s: float = 20.0  # measuring time of the dead-slave run (after the warm-up)
    warmup_periods: int = 2  # periods of the dead-slave run that are not timed
    poller: Poller = "hub"

    @staticmethod
    def quick() -> BusBench:
        return BusBench(throughput_s=2.0, dead_s=5.0)

    @staticmethod
    def for_sizes(sizes: Sizes) -> BusBench:
        return BusBench.quick() if sizes == Sizes.quick() else BusBench()

    @property
    def char_s(self) -> float:
        return BITS_PER_CHAR / self.baud

    @property
    def gap_s(self) -> float:
        return GAP_CHARS * self.char_s

    @property
    def response_bytes(self) -> int:
        return 5 + 2 * self.registers  # unit, function, byte count, data, CRC (2)

    @property
    def transaction_s(self) -> float:
        """Shortest time one read can take on this bus: both frames, both gaps, the turnaround."""
        chars = REQUEST_BYTES + self.response_bytes + 2 * GAP_CHARS
        return chars * self.char_s + self.turnaround_s

    @property
    def limit_tps(self) -> float:
        return 1.0 / self.transaction_s


@dataclass(slots=True)
class PollLog:
    """What a poller saw: completion times of good reads per unit, failed polls per unit."""

    good: dict[int, list[float]] = field(default_factory=dict)
    failed: dict[int, int] = field(default_factory=dict)
    started: float = 0.0
    ended: float = 0.0

    @property
    def good_total(self) -> int:
        return sum(len(v) for v in self.good.values())


PollRun = Callable[[str, BusBench, float, float, float], Awaitable[PollLog]]


# Measurements


def measure_throughput(bench: BusBench) -> dict[str, Any]:
    """Back-to-back reads of all slaves; transactions/s against the bus's theoretical limit."""
    log = _run(_on_bus(bench, dead=None, period_s=0.0, timeout_s=0.5, duration_s=bench.throughput_s))
    span = log.ended - log.started
    achieved = log.good_total / span if span > 0 else math.nan
    return {
        "achieved_tps": achieved,
        "limit_tps": bench.limit_tps,
        "ratio": achieved / bench.limit_tps,
        "transactions": log.good_total,
        "failed": sum(log.failed.values()),
        "seconds": span,
        "per_unit": {u: len(v) for u, v in sorted(log.good.items())},
    }


def measure_dead_slave(bench: BusBench) -> dict[str, Any]:
    """Every slave on ``period_s``, one silent: how well the live ones keep their period.

    The first ``warmup_periods`` are not timed: the first cycle starts every slave at once and a
    poller may settle the dead slave's place in the cycle after its first timeout; the figure is
    about the steady schedule.
    """
    warmup_s = bench.warmup_periods * bench.period_s
    log = _run(
        _on_bus(
            bench,
            dead=bench.dead_unit,
            period_s=bench.period_s,
            timeout_s=bench.timeout_s,
            duration_s=warmup_s + bench.dead_s,
        )
    )
    timed_from = log.started + warmup_s
    for unit, times in log.good.items():
        log.good[unit] = [t for t in times if t >= timed_from]
    means: dict[int, float] = {}
    worst_interval = 0.0
    for unit, times in sorted(log.good.items()):
        if unit == bench.dead_unit or len(times) < 2:
            continue
        means[unit] = (times[-1] - times[0]) / (len(times) - 1)
        intervals = [b - a for a, b in itertools.pairwise(times)]
        worst_interval = max(worst_interval, *(abs(i - bench.period_s) for i in intervals))
    live = bench.slaves - 1
    if len(means) < live:
        # A live slave that never completed two reads has no period at all: the worst case.
        worst_unit, worst_mean = -1, math.inf
    else:
        worst_unit = max(means, key=lambda u: abs(means[u] - bench.period_s))
        worst_mean = means[worst_unit]
    busy = (live * bench.transaction_s + bench.timeout_s + bench.gap_s) / bench.period_s
    return {
        "worst_mean_period_s": worst_mean,
        "worst_unit": worst_unit,
        "worst_deviation": abs(worst_mean - bench.period_s) / bench.period_s,
        "worst_single_interval_deviation_s": worst_interval,
        "median_mean_period_s": statistics.median(means.values()) if means else math.nan,
        "live_slaves_timed": len(means),
        "dead_unit_good_reads": len(log.good.get(bench.dead_unit, [])),
        "dead_unit_failed_polls": log.failed.get(bench.dead_unit, 0),
        "live_failed_polls": sum(n for u, n in log.failed.items() if u != bench.dead_unit),
        "bus_busy_share": busy,
        "seconds": log.ended - timed_from,
        "warmup_s": warmup_s,
    }


# Figures (same signature as smartsite.bench.figures: (Sizes, kinds) -> Figure)


def modbus_throughput(sizes: Sizes, kinds: set[str], bench: BusBench | None = None) -> Figure:
    b = bench or BusBench.for_sizes(sizes)
    got = measure_throughput(b)
    return Figure(
        name=f"modbus_tps_{b.baud}baud_{b.slaves}slaves_{b.registers}regs",
        value=round(got["achieved_tps"], 2),
        unit="transactions/s",
        baseline=round(got["limit_tps"], 2),
        ratio=round(got["ratio"], 3),
        target=">= 90 % of the theoretical limit (ratio = achieved / limit)",
        detail={
            "poller": b.poller,
            "limit": (
                f"1 / ((8 + {b.response_bytes} bytes + 2 x 3.5 gap chars) x {b.char_s * 1000:.4f} ms "
                f"+ {b.turnaround_s * 1000:g} ms turnaround) = {got['limit_tps']:.2f}/s"
            ),
            "transactions": got["transactions"],
            "failed": got["failed"],
            "seconds": round(got["seconds"], 3),
            "turnaround_ms": b.turnaround_s * 1000,
        },
    )


def modbus_dead_slave(sizes: Sizes, kinds: set[str], bench: BusBench | None = None) -> Figure:
    b = bench or BusBench.for_sizes(sizes)
    got = measure_dead_slave(b)
    mean = got["worst_mean_period_s"]
    return Figure(
        name=f"modbus_dead_slave_period_{b.slaves}slaves_{b.period_s:g}s",
        value=round(mean, 4) if math.isfinite(mean) else math.nan,
        unit="s",
        baseline=b.period_s,
        ratio=round(mean / b.period_s, 4) if math.isfinite(mean) else math.nan,
        target="live slaves' mean period within 10 % of the configured one (ratio 0.90 .. 1.10)",
        detail={
            "poller": b.poller,
            "dead_unit": b.dead_unit,
            "timeout_s": b.timeout_s,
            "worst_unit": got["worst_unit"],
            "worst_deviation_pct": round(got["worst_deviation"] * 100, 3),
            "worst_single_interval_deviation_ms": round(got["worst_single_interval_deviation_s"] * 1000, 2),
            "live_slaves_timed": got["live_slaves_timed"],
            "dead_unit_failed_polls": got["dead_unit_failed_polls"],
            "dead_unit_good_reads": got["dead_unit_good_reads"],
            "live_failed_polls": got["live_failed_polls"],
            "bus_busy_share": round(got["bus_busy_share"], 3),
            "seconds_timed": round(got["seconds"], 3),
            "warmup_s": got["warmup_s"],
        },
    )


# The bus under test


def precise_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose timers wake within microseconds (select), not whole milliseconds."""
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


def _run(coro: Awaitable[PollLog]) -> PollLog:
    async def main() -> PollLog:
        return await coro

    with _quiet_pymodbus(), asyncio.Runner(loop_factory=precise_loop) as runner:
        return runner.run(main())


async def _on_bus(
    bench: BusBench, dead: int | None, period_s: float, timeout_s: float, duration_s: float
) -> PollLog:
    from simulators.modbus_slaves import SlaveBus, Unit
    from simulators.serial_relay import SerialRelay

    units = {u: Unit.counting(bench.registers) for u in range(1, bench.slaves + 1)}
    poll = POLLERS[bench.poller]
    with SerialRelay(bench.baud) as relay:
        async with SlaveBus(
            relay.device_port,
            units=units,
            baud=bench.baud,
            turnaround=bench.turnaround_s,
            silent=() if dead is None else (dead,),
        ):
            return await poll(relay.client_port, bench, period_s, timeout_s, duration_s)


@contextlib.contextmanager
def _quiet_pymodbus() -> Iterator[None]:
    """pymodbus logs every timeout with a frame dump; the dead slave would flood the output."""
    logger = logging.getLogger("pymodbus.logging")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def plain_poll(
    port: str, bench: BusBench, period_s: float, timeout_s: float, duration_s: float
) -> PollLog:
    """A bare pymodbus client: earliest-due slave first, the 3.5-character gap after every frame.

    ``period_s`` 0 polls back to back. Due times keep their phase (``due += period``), so a slave
    that times out delays the next ones by its timeout but never shifts their periods.
    """
    from pymodbus.client import AsyncModbusSerialClient

    client = AsyncModbusSerialClient(port, baudrate=bench.baud, timeout=timeout_s, retries=0)
    if not await client.connect():
        raise RuntimeError(f"cannot open {port}")
    units = list(range(1, bench.slaves + 1))
    log = PollLog(good={u: [] for u in units}, failed={u: 0 for u in units})
    start = time.monotonic()
    due = {u: start for u in units}
    quiet_until = start
    log.started = start
    try:
        while True:
            unit = min(units, key=lambda u: (due[u], u))
            now = time.monotonic()
            wake = max(due[unit], quiet_until)
            if wake >= start + duration_s:
                break
            if wake > now:
                await asyncio.sleep(wake - now)
            try:
                response = await client.read_holding_registers(0, count=bench.registers, device_id=unit)
                ok = not response.isError() and len(response.registers) == bench.registers
            except Exception:  # timeout or garbled frame: a failed poll, the schedule goes on
                ok = False
            done = time.monotonic()
            quiet_until = done + bench.gap_s
            if ok:
                log.good[unit].append(done)
                log.ended = done
            else:
                log.failed[unit] += 1
            if period_s > 0:
                missed = max(0, math.floor((done - due[unit]) / period_s))
                due[unit] += (missed + 1) * period_s
            else:
                due[unit] = done
    finally:
        client.close()
    return log


async def hub_poll(
    port: str, bench: BusBench, period_s: float, timeout_s: float, duration_s: float
) -> PollLog:
    """The gateway's ModbusHub on the bus: one device per slave, one register block each."""
    from drivers.modbus import BusSpec, DeviceSpec, ModbusHub, RegisterSpec
    from gateway.vocab import Quality

    units = list(range(1, bench.slaves + 1))
    devices = tuple(
        DeviceSpec(
            id=f"slave{u}",
            unit=u,
            registers=tuple(
                RegisterSpec(quantity=f"r{i}", column=u * 1000 + i, function="holding", address=i)
                for i in range(bench.registers)
            ),
            # 0 is "always due": the hub then polls back to back, earliest due first.
            poll_s=period_s if period_s > 0 else 1e-6,
            timeout_s=timeout_s,
            retries=0,
        )
        for u in units
    )
    spec = BusSpec(id="bench", kind="serial", port=port, baudrate=bench.baud, devices=devices)
    log = PollLog(good={u: [] for u in units}, failed={u: 0 for u in units})
    hub = ModbusHub(spec, clock=time.monotonic)
    log.started = time.monotonic()
    end = log.started + duration_s
    async with hub:
        stream = hub.batches()
        try:
            while True:
                item = await asyncio.wait_for(anext(stream), timeout=max(0.1, end - time.monotonic()))
                batch = item.readings
                unit = int(batch.channel[0]) // 1000
                stamp = float(batch.ts[-1])
                if stamp >= end:
                    break
                if bool((batch.quality < Quality.BAD).all()):
                    log.good[unit].append(stamp)
                    log.ended = stamp
                else:
                    log.failed[unit] += 1
        except TimeoutError:
            pass
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
    return log


POLLERS: dict[str, PollRun] = {"hub": hub_poll, "plain": plain_poll}


def with_poller(bench: BusBench, poller: Poller) -> BusBench:
    return replace(bench, poller=poller)


__all__ = [
    "POLLERS",
    "BusBench",
    "PollLog",
    "hub_poll",
    "measure_dead_slave",
    "measure_throughput",
    "modbus_dead_slave",
    "modbus_throughput",
    "plain_poll",
    "precise_loop",
    "with_poller",
]
