"""Merge a device's registers into the fewest read requests the bus's limits allow.

Registers of one function code are sorted by address and cut greedily: a request grows while the
hole before the next register is at most ``max_gap`` and the whole span stays within ``max_count``.
Any request covers a contiguous run of the sorted registers (reading a span reads everything in it),
and every sub-run of a valid run is valid, so the greedy cut gives the fewest requests.

Coils and discrete inputs are counted in bits; their limits are the register limits times 16 (the
same bytes on the wire).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from drivers.modbus.spec import BIT_FUNCTIONS, RegisterSpec

# Protocol ceilings per request (Modbus application protocol v1.1b3, 6.1 to 6.4).
MAX_REGISTERS = 125
MAX_BITS = 2000
_FUNCTION_ORDER = ("holding", "input", "coil", "discrete")


@dataclass(frozen=True, slots=True)
class ReadRequest:
    function: str
    address: int
    count: int
    registers: tuple[RegisterSpec, ...]

    @property
    def end(self) -> int:
        return self.address + self.count


def plan_requests(
    registers: Iterable[RegisterSpec], max_count: int = 60, max_gap: int = 4
) -> list[ReadRequest]:
    """The reads that fetch every register, fewest first; one function code per request."""
    if max_count < 1 or max_gap < 0:
        raise ValueError("max_count must be >= 1 and max_gap >= 0")
    by_function: dict[str, list[RegisterSpec]] = {}
    for register in registers:
        by_function.setdefault(register.function, []).append(register)
    requests: list[ReadRequest] = []
    for function in sorted(by_function, key=_FUNCTION_ORDER.index):
        bits = function in BIT_FUNCTIONS
        limit = min(max_count * 16, MAX_BITS) if bits else min(max_count, MAX_REGISTERS)
        gap = max_gap * 16 if bits else max_gap
        members = sorted(by_function[function], key=lambda r: (r.address, r.count))
        run: list[RegisterSpec] = []
        start = end = 0
        for register in members:
            if register.count > limit:
                raise ValueError(
                    f"{register.quantity}: {register.count} registers exceed {limit} per request"
                )
            if run and register.address - end <= gap and max(end, register.end) - start <= limit:
                run.append(register)
                end = max(end, register.end)
                continue
            if run:
                requests.append(ReadRequest(function, start, end - start, tuple(run)))
            run, start, end = [register], register.address, register.end
        if run:
            requests.append(ReadRequest(function, start, end - start, tuple(run)))
    return requests
