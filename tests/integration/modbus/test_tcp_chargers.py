"""Each charger profile over Modbus TCP against pyModbusTCP's server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from edge_controller.config.settings import ChargerSettings, TcpBusSettings
from edge_controller.domain.model import CpState
from edge_controller.drivers import registry
from edge_controller.drivers.modbus.bus import ModbusBus
from edge_controller.drivers.modbus.transport import Transport
from edge_controller.ports import BuiltInMeter, Charger, DeviceWatchdog

from .conftest import TcpPeer, words

pytestmark = pytest.mark.integration


def clock() -> float:
    return 1000.0


@pytest.fixture
async def bus(tcp_peer: TcpPeer) -> AsyncIterator[ModbusBus]:
    settings = TcpBusSettings(type="tcp", host="127.0.0.1", port=tcp_peer.port, timeout_s=2.0)
    async with registry.build_bus("lan", settings, clock) as opened:
        yield opened


def charger(bus: ModbusBus, profile: str, unit_id: int = 1, connectors: int = 1) -> list[Charger]:
    settings = ChargerSettings(
        bus="lan", unit_id=unit_id, profile=profile, connectors=connectors, max_current_a=32
    )
    return registry.build_charger(f"c-{profile}", settings, bus, clock)


async def test_heidelberg_status_meter_and_setpoints(bus: ModbusBus, tcp_peer: TcpPeer) -> None:
    bank = tcp_peer.bank
    # state 7 (C2), currents 16.0/15.9/0 A, temp, voltages 230/231/0, power 7300 VA, energy.
    bank.set_input_registers(5, [7, 160, 159, 0, 250, 230, 231, 0, 0, 7300])
    bank.set_input_registers(17, words(">I", 123456))
    [wallbox] = charger(bus, "heidelberg_energy_control")
    assert isinstance(wallbox, DeviceWatchdog) and isinstance(wallbox, BuiltInMeter)

    status = await wallbox.read_status()
    assert (status.state, status.enabled, status.at_s) == (CpState.C, True, 1000.0)
    assert bank.get_holding_registers(258, 1) == [4]  # start-up write: leave standby

    reading = await wallbox.read_meter()
    assert reading.current_a == pytest.approx((16.0, 15.9, 0.0))
    assert reading.voltage_v == (230.0, 231.0, 0.0)
    assert (reading.total_power_w, reading.import_energy_wh) == (7300.0, 123456.0)

    await wallbox.set_current(13.5)
    assert bank.get_holding_registers(261, 1) == [135]
    await wallbox.set_current(40)  # above the device's 16 A: clamped, never more
    assert bank.get_holding_registers(261, 1) == [160]
    await wallbox.set_current(4)  # below 6 A means off
    assert bank.get_holding_registers(261, 1) == [0]

    await wallbox.set_current(10)
    await wallbox.set_enabled(False)
    assert bank.get_holding_registers(261, 1) == [0]
    await wallbox.set_enabled(True)
    assert bank.get_holding_registers(261, 1) == [100]
    assert (await wallbox.read_status()).offered_current_a == 10

    await wallbox.program_failsafe(6, 20)
    assert bank.get_holding_registers(257, 1) == [20000]
    assert bank.get_holding_registers(262, 1) == [60]


async def test_phoenix_em_cp_pp_eth(bus: ModbusBus, tcp_peer: TcpPeer) -> None:
    bank = tcp_peer.bank
    bank.set_input_registers(100, [ord("B")])
    volts = [w for v in (229_500, 230_000, 231_000) for w in words(">i", v, low_word_first=True)]
    amps = [w for v in (12_000, 11_500, 0) for w in words(">i", v, low_word_first=True)]
    bank.set_input_registers(108, volts + amps + words(">i", 552, low_word_first=True))
    bank.set_input_registers(128, words(">i", 98765, low_word_first=True))
    bank.set_holding_registers(300, [16])
    bank.set_coils(400, [True])
    [controller] = charger(bus, "phoenix_em_cp_pp_eth", unit_id=180)
    assert not isinstance(controller, DeviceWatchdog)

    status = await controller.read_status()
    assert (status.state, status.offered_current_a) == (CpState.B, 16.0)
    assert isinstance(controller, BuiltInMeter)
    reading = await controller.read_meter()
    assert reading.voltage_v == pytest.approx((229.5, 230.0, 231.0))
    assert reading.current_a == pytest.approx((12.0, 11.5, 0.0))
    assert reading.total_power_w == 5520.0 and reading.import_energy_wh == 987650.0

    await controller.set_current(0)  # 0 A is not writable here: pause with the enable coil
    assert bank.get_coils(400, 1) == [False] and bank.get_holding_registers(300, 1) == [16]
    await controller.set_current(20)
    assert bank.get_coils(400, 1) == [True] and bank.get_holding_registers(300, 1) == [20]


async def test_charx_has_one_charger_per_connector(bus: ModbusBus, tcp_peer: TcpPeer) -> None:
    bank = tcp_peer.bank
    bank.set_holding_registers(1299, [ord("A") << 8 | ord("1"), 1, 16])
    bank.set_holding_registers(2299, [ord("C") << 8 | ord("2"), 1, 20])
    bank.set_holding_registers(2238, words(">i", 19_800) + words(">i", 19_700) + words(">i", 0))
    bank.set_holding_registers(2250, words(">Q", 5_000_000))
    first, second = charger(bus, "phoenix_charx_sec3xxx", connectors=2)

    assert (await first.read_status()).state is CpState.A
    status = await second.read_status()
    assert (status.state, status.offered_current_a, status.enabled) == (CpState.C, 20.0, True)
    assert isinstance(second, BuiltInMeter)
    reading = await second.read_meter()
    assert reading.current_a == pytest.approx((19.8, 19.7, 0.0))
    assert reading.import_energy_wh == 5_000_000

    await second.set_current(12)
    assert bank.get_holding_registers(2301, 1) == [12]
    assert bank.get_holding_registers(1301, 1) == [16]  # connector 1 untouched


async def test_keba_p30(bus: ModbusBus, tcp_peer: TcpPeer) -> None:
    bank = tcp_peer.bank
    for address, value in {
        1000: 3,
        1004: 7,
        1008: 15_900,
        1010: 16_000,
        1012: 15_800,
        1020: 11_000_000,
        1036: 4_567_890,
        1040: 230,
        1042: 231,
        1044: 229,
        1100: 16_000,
    }.items():
        bank.set_holding_registers(address, words(">I", value))
    [keba] = charger(bus, "keba_kecontact_p30", unit_id=255)
    assert isinstance(keba, DeviceWatchdog) and isinstance(keba, BuiltInMeter)

    status = await keba.read_status()
    assert (status.state, status.offered_current_a) == (CpState.C, 16.0)
    reading = await keba.read_meter()
    assert reading.current_a == pytest.approx((15.9, 16.0, 15.8))
    assert reading.total_power_w == pytest.approx(11_000.0)
    assert reading.import_energy_wh == pytest.approx(456_789.0)

    bank.set_holding_registers(1004, words(">I", 1))  # cable only at the station
    assert (await keba.read_status()).state is CpState.A

    await keba.set_current(10)
    assert bank.get_holding_registers(5004, 1) == [10_000]
    assert bank.get_holding_registers(5014, 1) == [1]
    await keba.set_enabled(False)
    assert bank.get_holding_registers(5014, 1) == [0]
    await keba.program_failsafe(6, 30)
    assert bank.get_holding_registers(5016, 1) == [6000]
    assert bank.get_holding_registers(5018, 1) == [30]


async def test_statistics_are_exposed_as_device_views(bus: ModbusBus, tcp_peer: TcpPeer) -> None:
    tcp_peer.bank.set_input_registers(5, [2])
    [wallbox] = charger(bus, "heidelberg_energy_control")
    for _ in range(3):
        await wallbox.read_status()
    [view] = bus.views()
    assert view.device_id == "c-heidelberg_energy_control" and view.available
    assert view.requests == 4  # the start-up write and three reads
    assert view.errors == {} and view.last_success_s == 1000.0
    assert view.latency_p50_ms is not None and view.latency_p99_ms is not None
    assert view.latency_p50_ms <= view.latency_p99_ms


async def test_installer_minimum_pauses_instead_of_rounding_up(
    bus: ModbusBus, tcp_peer: TcpPeer
) -> None:
    settings = ChargerSettings(
        bus="lan", unit_id=1, profile="heidelberg_energy_control", min_current_a=8
    )
    [wallbox] = registry.build_charger("hd", settings, bus, clock)
    await wallbox.set_current(7.5)
    assert tcp_peer.bank.get_holding_registers(261, 1) == [0]
    await wallbox.set_current(8)
    assert tcp_peer.bank.get_holding_registers(261, 1) == [80]


class HeldAnswer(Transport):
    """The real transport; the first answer to a write of ``address`` is held back (after the
    device took it) until released: a caller may give up on it meanwhile."""

    def __init__(self, inner: Transport, address: int) -> None:
        super().__init__(inner.link, inner.kind)
        self.address = address
        self.landed, self.release = asyncio.Event(), asyncio.Event()

    async def transact(self, unit_id: int, pdu: bytes, timeout_s: float) -> bytes:
        reply = await super().transact(unit_id, pdu, timeout_s)
        to_address = pdu[0] == 16 and int.from_bytes(pdu[1:3], "big") == self.address
        if to_address and not self.landed.is_set():
            self.landed.set()
            await self.release.wait()
        return reply


async def test_a_resume_cut_short_is_not_taken_for_a_pause(
    bus: ModbusBus, tcp_peer: TcpPeer
) -> None:
    bank = tcp_peer.bank
    bank.set_holding_registers(1299, [ord("C") << 8 | ord("2"), 1, 16])
    [first] = charger(bus, "phoenix_charx_sec3xxx")
    await first.set_current(0)  # paused with enable
    assert bank.get_holding_registers(1300, 2) == [0, 16]
    held = bus.transport = HeldAnswer(bus.transport, 1300)
    resuming = asyncio.create_task(first.set_current(10))
    await held.landed.wait()  # the charger is enabled at 10 A; its answer is late
    resuming.cancel()  # the control loop gave up on it (a newer overload)
    with contextlib.suppress(asyncio.CancelledError):
        await resuming
    held.release.set()
    assert bank.get_holding_registers(1300, 2) == [1, 10]
    await first.set_current(0)
    assert bank.get_holding_registers(1300, 1) == [0]  # paused again, not left charging
