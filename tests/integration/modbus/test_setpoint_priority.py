"""A setpoint written through a charger driver jumps the queue of a busy bus (RS-485, and a
CHARX's eight connectors over Modbus TCP).

After an overload reading the new setpoints must reach the chargers at once, not after every
routine status read already waiting for the line.
"""

from __future__ import annotations

import asyncio

import pytest

from edge_controller.config.settings import ChargerSettings, RtuBusSettings, TcpBusSettings
from edge_controller.drivers import registry
from edge_controller.drivers.modbus.bus import DeviceTiming
from edge_controller.drivers.modbus.pdu import read_request
from edge_controller.drivers.modbus.transport import Transport

from .conftest import TcpPeer, Unit, serial_server

pytestmark = pytest.mark.integration

WRITES = (6, 16)  # write single / multiple registers


class FunctionLog(Transport):
    """The real transport, recording the unit and function code of each transaction."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner.link, inner.kind)
        self.sent: list[tuple[int, int]] = []

    async def transact(self, unit_id: int, pdu: bytes, timeout_s: float) -> bytes:
        self.sent.append((unit_id, pdu[0]))
        return await super().transact(unit_id, pdu, timeout_s)


def wallbox() -> Unit:
    unit = Unit()
    unit.load("i", 4, [0x0108, 7, 160, 160, 160, 250, 230, 230, 230, 0, 11000])
    return unit


async def test_set_current_overtakes_a_backlog_of_routine_reads(
    pty_pair: tuple[str, str],
) -> None:
    ours, theirs = pty_pair
    units = {n: wallbox() for n in range(1, 6)}
    async with serial_server(theirs, units, baudrate=19200, parity="N"):  # a pty ignores parity
        bus = registry.build_bus(
            "rs485",
            RtuBusSettings.model_validate(
                {"type": "rtu", "device": ours, "baud": 19200, "parity": "E", "timeout_s": 0.3}
            ),
        )
        log = bus.transport = FunctionLog(bus.transport)
        async with bus:
            [charger] = registry.build_charger(
                "c1", ChargerSettings(bus="rs485", unit_id=1, profile="heidelberg_energy_control"),
                bus,
            )  # fmt: skip
            await charger.read_status()  # its start-up writes are done: only the setpoint is left
            channels = [bus.attach(f"c{n}", n, DeviceTiming(0.3, 0)) for n in range(1, 6)]
            status = read_request("input", 5, 1)
            backlog = [asyncio.create_task(ch.request(status)) for _ in range(4) for ch in channels]
            await asyncio.sleep(0)  # 20 routine reads wait for the line
            queued_at = len(log.sent)
            await charger.set_current(8)
            done_before_setpoint = sum(task.done() for task in backlog)
            await asyncio.gather(*backlog)
    order = log.sent[queued_at:]
    first_write = next(n for n, (unit, code) in enumerate(order) if code in WRITES)
    assert order[first_write][0] == 1
    assert first_write <= 1  # only a read already on the line went before it
    assert done_before_setpoint <= 2
    assert units[1].tables["h"][261] == 80  # 8 A in 0.1 A steps reached the wallbox
    # The routine reads were queued first and all still ran: 20 of them, round-robin.
    reads = [unit for unit, code in order if code not in WRITES]
    assert len(reads) == 20 and reads[:5] == [1, 2, 3, 4, 5]


async def test_over_tcp_a_charx_setpoint_waits_only_for_the_read_on_the_line(
    tcp_peer: TcpPeer,
) -> None:
    settings = TcpBusSettings(type="tcp", host="127.0.0.1", port=tcp_peer.port, timeout_s=2.0)
    bus = registry.build_bus("charx", settings)
    log = bus.transport = FunctionLog(bus.transport)
    for connector in range(1, 9):
        tcp_peer.bank.set_holding_registers(connector * 1000 + 299, [ord("C") << 8, 1, 16])
    async with bus:
        chargers = registry.build_charger(
            "charx",
            ChargerSettings(bus="charx", unit_id=1, profile="phoenix_charx_sec3xxx", connectors=8),
            bus,
        )
        await chargers[7].set_current(16)  # enabled: a lowering is one write
        # One poll round of the controller: a status and a meter read per connector.
        polls = [c.read_status() for c in chargers] + [c.read_meter() for c in chargers]  # type: ignore[attr-defined]
        backlog = [asyncio.create_task(poll) for poll in polls]
        await asyncio.sleep(0)  # the first read is on the line, 15 wait
        queued_at = len(log.sent)
        await chargers[7].set_current(8)
        done_before_setpoint = sum(task.done() for task in backlog)
        await asyncio.gather(*backlog)
    order = log.sent[queued_at:]
    assert order[0][1] in WRITES  # next on the line after the read already sent
    assert done_before_setpoint <= 1
    assert tcp_peer.bank.get_holding_registers(8301, 1) == [8]
    assert len(order) == 16  # and every read still ran
