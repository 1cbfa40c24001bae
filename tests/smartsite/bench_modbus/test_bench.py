"""The Modbus bench in a tiny quick mode: it runs and its fields are sane (no timing asserts)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from smartsite.bench.figures import Sizes
from smartsite.bench.modbus_bus import BusBench, modbus_dead_slave, modbus_throughput

TINY = BusBench(slaves=4, throughput_s=0.6, period_s=0.5, dead_unit=2, dead_s=1.6, baud=19200)


def test_limit_from_frame_sizes() -> None:
    b = BusBench()  # 9600 baud, 4 registers, 5 ms turnaround
    assert b.response_bytes == 13
    assert b.transaction_s == pytest.approx((8 + 13 + 7) * 10 / 9600 + 0.005)
    assert b.limit_tps == pytest.approx(1 / b.transaction_s)
    assert BusBench.for_sizes(Sizes.quick()) == BusBench.quick()
    assert BusBench.for_sizes(Sizes()) == BusBench()


@pytest.mark.parametrize("poller", ["plain", "hub"])
def test_throughput_figure(poller: str) -> None:
    bench = replace(TINY, poller=poller)  # type: ignore[arg-type]
    fig = modbus_throughput(Sizes.quick(), set(), bench)
    assert fig.unit == "transactions/s"
    assert fig.value > 0 and math.isfinite(fig.value)
    assert fig.baseline == pytest.approx(bench.limit_tps, rel=1e-3)
    assert fig.ratio == pytest.approx(fig.value / fig.baseline, rel=1e-2)
    assert fig.detail["transactions"] > 0 and fig.detail["poller"] == poller


@pytest.mark.parametrize("poller", ["plain", "hub"])
def test_dead_slave_figure(poller: str) -> None:
    bench = replace(TINY, poller=poller)  # type: ignore[arg-type]
    fig = modbus_dead_slave(Sizes.quick(), set(), bench)
    assert fig.unit == "s" and fig.baseline == bench.period_s
    assert fig.value > 0 and math.isfinite(fig.value)
    assert fig.ratio == pytest.approx(fig.value / bench.period_s, rel=1e-2)
    detail = fig.detail
    assert detail["dead_unit_good_reads"] == 0
    assert detail["dead_unit_failed_polls"] >= 1
    assert detail["live_slaves_timed"] == bench.slaves - 1
    assert detail["worst_unit"] != bench.dead_unit
