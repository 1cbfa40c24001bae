"""Noise on the line: bytes are flipped, the client's CRC check rejects every corrupted frame."""

from __future__ import annotations

from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ModbusException

from simulators.modbus_slaves import SlaveBus, Unit
from simulators.serial_relay import SerialRelay

BAUD = 115200
EXPECTED = [0x1234, 0xBEEF, 0x0001, 0x8000]


async def test_client_never_accepts_a_corrupted_frame() -> None:
    units = {u: Unit(holding=dict(enumerate(EXPECTED))) for u in (1, 2, 3)}
    good = failed = 0
    with SerialRelay(BAUD, noise=0.03, seed=11) as relay:
        async with SlaveBus(relay.device_port, units=units, baud=BAUD):
            client = AsyncModbusSerialClient(relay.client_port, baudrate=BAUD, timeout=0.08, retries=0)
            assert await client.connect()
            try:
                for i in range(90):
                    try:
                        r = await client.read_holding_registers(0, count=4, device_id=1 + i % 3)
                    except ModbusException:
                        failed += 1  # the garbled answer (or request) was dropped: a timeout
                        continue
                    if r.isError():  # a flipped request byte may read as another function
                        failed += 1
                        continue
                    assert r.registers == EXPECTED
                    good += 1
                # Noise off: the next read is good again.
                relay.noise = 0.0
                r = await client.read_holding_registers(0, count=4, device_id=1)
                assert r.registers == EXPECTED
            finally:
                client.close()
        flipped = sum(d["flipped"] for d in relay.counters().values())
    assert flipped > 0
    assert failed > 0 and good > 0
