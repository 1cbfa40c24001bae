"""Simulated slaves: several units on one link, changing values, silence, exceptions, TCP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import pytest
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu import ExceptionResponse

from simulators.modbus_slaves import SlaveBus, Unit, encode
from simulators.serial_relay import SerialRelay

BAUD = 38400  # real timing, but quick


@pytest.fixture
def relay() -> Iterator[SerialRelay]:
    with SerialRelay(BAUD) as r:
        yield r


def _units() -> dict[int, Unit]:
    return {
        1: Unit(holding={0: 11, 1: 12}, input={0: 21}),
        2: Unit().put("holding", 0, lambda t: t, "uint16", scale=0.01),  # counts up, 100 per second
        3: Unit(holding={0: 31}),
        5: Unit().put("input", 100, -12.5, "float32").put("holding", 10, -2, "int16"),
    }


@pytest.fixture
async def client(relay: SerialRelay) -> AsyncIterator[AsyncModbusSerialClient]:
    c = AsyncModbusSerialClient(relay.client_port, baudrate=BAUD, timeout=0.2, retries=0)
    assert await c.connect()
    yield c
    c.close()


async def test_units_answer_their_own_registers(relay: SerialRelay, client: AsyncModbusSerialClient) -> None:
    async with SlaveBus(relay.device_port, units=_units(), baud=BAUD) as bus:
        r1 = await client.read_holding_registers(0, count=2, device_id=1)
        r1i = await client.read_input_registers(0, count=1, device_id=1)
        r3 = await client.read_holding_registers(0, count=1, device_id=3)
        r5 = await client.read_input_registers(100, count=2, device_id=5)
        r5h = await client.read_holding_registers(10, count=1, device_id=5)
    assert r1.registers == [11, 12]
    assert r1i.registers == [21]
    assert r3.registers == [31]
    assert client.convert_from_registers(r5.registers, client.DATATYPE.FLOAT32) == -12.5
    assert client.convert_from_registers(r5h.registers, client.DATATYPE.INT16) == -2
    assert bus.stats[1].requests == 2 and bus.stats[1].answered == 2
    assert bus.stats[5].answered == 2


async def test_values_change_with_time(relay: SerialRelay, client: AsyncModbusSerialClient) -> None:
    async with SlaveBus(relay.device_port, units=_units(), baud=BAUD):
        first = (await client.read_holding_registers(0, count=1, device_id=2)).registers[0]
        time.sleep(0.05)
        second = (await client.read_holding_registers(0, count=1, device_id=2)).registers[0]
    assert second > first


async def test_silenced_unit_stays_silent(relay: SerialRelay, client: AsyncModbusSerialClient) -> None:
    async with SlaveBus(relay.device_port, units=_units(), baud=BAUD, silent={3}) as bus:
        received_before = relay.counters()["to_client"]["bytes_in"]
        with pytest.raises(ModbusIOException):  # a timeout, not an exception response
            await client.read_holding_registers(0, count=1, device_id=3)
        # Not a byte came back for it.
        assert relay.counters()["to_client"]["bytes_in"] == received_before
        assert bus.stats[3].ignored == 1 and bus.stats[3].exceptions == 0
        # The others go on answering, and the unit comes back when restored.
        assert (await client.read_holding_registers(0, count=1, device_id=1)).registers == [11]
        bus.restore(3)
        assert (await client.read_holding_registers(0, count=1, device_id=3)).registers == [31]
        bus.silence(1)
        with pytest.raises(ModbusIOException):
            await client.read_holding_registers(0, count=1, device_id=1)


async def test_unknown_unit_is_silent(relay: SerialRelay, client: AsyncModbusSerialClient) -> None:
    async with SlaveBus(relay.device_port, units=_units(), baud=BAUD):
        received_before = relay.counters()["to_client"]["bytes_in"]
        with pytest.raises(ModbusIOException):
            await client.read_holding_registers(0, count=1, device_id=42)
        assert relay.counters()["to_client"]["bytes_in"] == received_before


async def test_failing_unit_answers_exceptions(relay: SerialRelay, client: AsyncModbusSerialClient) -> None:
    async with SlaveBus(relay.device_port, units=_units(), baud=BAUD, failing={1: 4}) as bus:
        r = await client.read_holding_registers(0, count=1, device_id=1)
        assert isinstance(r, ExceptionResponse) and r.exception_code == 4
        bus.fail(3, code=6)
        r = await client.read_holding_registers(0, count=1, device_id=3)
        assert isinstance(r, ExceptionResponse) and r.exception_code == 6
        bus.restore(1)
        assert (await client.read_holding_registers(0, count=2, device_id=1)).registers == [11, 12]
        assert bus.stats[1].exceptions == 1 and bus.stats[1].answered == 1


async def test_unmapped_address_is_illegal_address(
    relay: SerialRelay, client: AsyncModbusSerialClient
) -> None:
    async with SlaveBus(relay.device_port, units=_units(), baud=BAUD):
        r = await client.read_holding_registers(1, count=2, device_id=1)  # 2 is not mapped
        assert isinstance(r, ExceptionResponse) and r.exception_code == 2


async def test_writes_are_kept(relay: SerialRelay, client: AsyncModbusSerialClient) -> None:
    async with SlaveBus(relay.device_port, units=_units(), baud=BAUD):
        assert not (await client.write_register(1, 777, device_id=1)).isError()
        assert (await client.read_holding_registers(0, count=2, device_id=1)).registers == [11, 777]


async def test_turnaround_delays_the_answer(relay: SerialRelay, client: AsyncModbusSerialClient) -> None:
    async with SlaveBus(relay.device_port, units=_units(), baud=BAUD, turnaround=0.05) as bus:
        started = time.monotonic()
        await client.read_holding_registers(0, count=1, device_id=1)
        assert time.monotonic() - started >= 0.05  # lower bound only
        bus.set_turnaround(0.1, unit=3)
        started = time.monotonic()
        await client.read_holding_registers(0, count=1, device_id=3)
        assert time.monotonic() - started >= 0.1


async def test_rtu_over_tcp() -> None:
    async with SlaveBus(("127.0.0.1", 0), units=_units(), silent={3}) as bus:
        assert bus.url.startswith("socket://127.0.0.1:")
        client = AsyncModbusSerialClient(bus.url, timeout=0.2, retries=0)
        assert await client.connect()
        try:
            assert (await client.read_holding_registers(0, count=2, device_id=1)).registers == [11, 12]
            with pytest.raises(ModbusIOException):
                await client.read_holding_registers(0, count=1, device_id=3)
            assert (await client.read_input_registers(0, count=1, device_id=1)).registers == [21]
        finally:
            client.close()


async def test_tcp_url_forms() -> None:
    async with SlaveBus("tcp://127.0.0.1:0", units={1: {0: 5}}) as bus:
        client = AsyncModbusSerialClient(bus.url, timeout=0.5, retries=0)
        assert await client.connect()
        try:
            assert (await client.read_holding_registers(0, count=1, device_id=1)).registers == [5]
        finally:
            client.close()


@pytest.mark.parametrize(
    ("value", "dtype", "kwargs", "words"),
    [
        (250, "uint16", {}, [250]),
        (25.0, "uint16", {"scale": 0.1}, [250]),
        (-1, "int16", {}, [0xFFFF]),
        (70000, "uint16", {}, [0xFFFF]),  # saturates
        (0x12345678, "uint32", {}, [0x1234, 0x5678]),
        (0x12345678, "uint32", {"word_order": "little"}, [0x5678, 0x1234]),
        (0x12345678, "uint32", {"byte_order": "little"}, [0x3412, 0x7856]),
        (1.0, "float32", {}, [0x3F80, 0x0000]),
        (1.0, "float64", {}, [0x3FF0, 0, 0, 0]),
        (10.0, "int16", {"offset": 10.0}, [0]),
    ],
)
def test_encode(value: float, dtype: str, kwargs: dict[str, object], words: list[int]) -> None:
    assert encode(value, dtype, **kwargs) == words  # type: ignore[arg-type]


def test_unit_ids_are_checked() -> None:
    with pytest.raises(ValueError):
        SlaveBus("/dev/null", units={0: Unit()})
