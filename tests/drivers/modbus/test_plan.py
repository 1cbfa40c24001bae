"""The request planner: fewest requests within the bus's limits, one function code per request."""

from __future__ import annotations

import itertools
import random
from typing import Any, cast

import pytest

from drivers.modbus import RegisterSpec, plan_requests
from drivers.modbus.read_plan import ReadRequest


def reg(address: int, type_name: str = "uint16", function: str = "holding", name: str = "") -> RegisterSpec:
    return RegisterSpec(
        name or f"r{function}{address}", 0, cast(Any, function), address, cast(Any, type_name)
    )


def check_valid(
    requests: list[ReadRequest], registers: list[RegisterSpec], max_count: int, max_gap: int
) -> None:
    covered = [r for q in requests for r in q.registers]
    assert sorted(covered, key=id) == sorted(registers, key=id)
    for q in requests:
        bits = q.function in ("coil", "discrete")
        assert q.count <= (max_count * 16 if bits else max_count)
        members = sorted(q.registers, key=lambda r: r.address)
        assert all(r.function == q.function for r in members)
        assert q.address == members[0].address
        assert q.end == max(r.end for r in members)
        end = members[0].end
        for r in members[1:]:
            assert r.address - end <= (max_gap * 16 if bits else max_gap)
            end = max(end, r.end)


def brute_force_minimum(registers: list[RegisterSpec], max_count: int, max_gap: int) -> int:
    """Fewest contiguous runs per function code, by trying every cut (small maps only)."""
    total = 0
    for function in {r.function for r in registers}:
        members = sorted((r for r in registers if r.function == function), key=lambda r: r.address)
        n = len(members)
        best = n
        for cuts in itertools.product((False, True), repeat=n - 1):
            runs, start = [], 0
            for i, cut in enumerate(cuts, start=1):
                if cut:
                    runs.append(members[start:i])
                    start = i
            runs.append(members[start:])
            if all(_run_ok(run, max_count, max_gap) for run in runs):
                best = min(best, len(runs))
        total += best
    return total


def _run_ok(run: list[RegisterSpec], max_count: int, max_gap: int) -> bool:
    if run[-1].end - run[0].address > max_count:
        return False
    return all(b.address - a.end <= max_gap for a, b in itertools.pairwise(run))


def test_twenty_scattered_registers_cost_the_fewest_requests() -> None:
    # 20 registers in 4 clusters, with holes of 3 (mergeable) inside clusters and 50 between.
    addresses = [0, 1, 4, 6, 8, 60, 62, 64, 67, 70, 120, 121, 122, 125, 200, 204, 206, 208, 211, 214]
    types = ["uint16", "int16", "uint16", "uint16", "float32"] * 4
    registers = [reg(a, t) for a, t in zip(addresses, types, strict=True)]
    requests = plan_requests(registers, max_count=60, max_gap=4)
    check_valid(requests, registers, 60, 4)
    assert len(requests) == 4
    assert [(q.address, q.count) for q in requests] == [(0, 10), (60, 12), (120, 6), (200, 16)]


def test_limits_split_requests() -> None:
    registers = [reg(a) for a in range(0, 100, 2)]  # 50 registers, holes of 1
    assert len(plan_requests(registers, max_count=125, max_gap=1)) == 1
    assert len(plan_requests(registers, max_count=125, max_gap=0)) == 50
    requests = plan_requests(registers, max_count=10, max_gap=4)
    check_valid(requests, registers, 10, 4)
    assert len(requests) == 10  # 5 registers per 10-register span


def test_a_value_is_never_split_across_requests() -> None:
    registers = [reg(0, "float64"), reg(4, "float64"), reg(8, "float32")]
    requests = plan_requests(registers, max_count=6, max_gap=0)
    check_valid(requests, registers, 6, 0)
    assert [(q.address, q.count) for q in requests] == [(0, 4), (4, 6)]
    with pytest.raises(ValueError, match="exceed"):
        plan_requests([reg(0, "float64")], max_count=2)


def test_function_codes_are_never_mixed() -> None:
    registers = [reg(0), reg(0, function="input"), reg(1), reg(0, "bool", "coil"), reg(3, "bool", "coil")]
    requests = plan_requests(registers)
    check_valid(requests, registers, 60, 4)
    assert [(q.function, q.address, q.count) for q in requests] == [
        ("holding", 0, 2),
        ("input", 0, 1),
        ("coil", 0, 4),
    ]


def test_bits_merge_across_wider_holes() -> None:
    registers = [reg(0, "bool", "discrete"), reg(40, "bool", "discrete"), reg(200, "bool", "discrete")]
    requests = plan_requests(registers, max_count=10, max_gap=4)  # 160 bits, holes up to 64
    check_valid(requests, registers, 10, 4)
    assert [(q.address, q.count) for q in requests] == [(0, 41), (200, 1)]


@pytest.mark.parametrize("seed", range(40))
def test_greedy_matches_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    registers: list[RegisterSpec] = []
    address = 0
    for _ in range(rng.randint(1, 11)):
        address += rng.randint(0, 7)
        type_name = rng.choice(["uint16", "int32", "float32", "float64"])
        registers.append(reg(address, type_name))
        address = registers[-1].end
    max_count, max_gap = rng.randint(4, 20), rng.randint(0, 5)
    requests = plan_requests(registers, max_count=max_count, max_gap=max_gap)
    check_valid(requests, registers, max_count, max_gap)
    assert len(requests) == brute_force_minimum(registers, max_count, max_gap)
