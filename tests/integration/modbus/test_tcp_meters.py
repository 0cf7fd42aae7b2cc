"""Each meter profile over Modbus TCP against pyModbusTCP's server; implausible data refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_controller.config.settings import MeterSettings, TcpBusSettings
from edge_controller.drivers import registry
from edge_controller.drivers.modbus.bus import ModbusBus
from edge_controller.ports import DeviceFault, Meter

from .conftest import TcpPeer, words

pytestmark = pytest.mark.integration

PHASE_VALUES = {
    "voltage": (230.5, 231.0, 229.5),
    "current": (10.25, 11.5, 12.0),
    "power": (2300.0, 2500.0, 2700.0),
}


def clock() -> float:
    return 50.0


@pytest.fixture
async def bus(tcp_peer: TcpPeer) -> AsyncIterator[ModbusBus]:
    settings = TcpBusSettings(type="tcp", host="127.0.0.1", port=tcp_peer.port, timeout_s=2.0)
    async with registry.build_bus("lan", settings, clock) as opened:
        yield opened


def meter(bus: ModbusBus, profile: str, profile_file: Path | None = None) -> Meter:
    settings = MeterSettings(bus="lan", unit_id=1, profile=profile, profile_file=profile_file)
    return registry.build_meter("grid", settings, bus, clock)


def load_float_meter(peer: TcpPeer) -> None:
    """Eastron layout: FC 04 float32 high word first, energies in kWh."""
    for n, base in enumerate((0x00, 0x06, 0x0C)):
        name = ("voltage", "current", "power")[n]
        for phase in range(3):
            peer.bank.set_input_registers(base + 2 * phase, words(">f", PHASE_VALUES[name][phase]))
    peer.bank.set_input_registers(0x34, words(">f", 7500.0))
    peer.bank.set_input_registers(0x48, words(">f", 12345.5) + words(">f", 67.25))


@pytest.mark.parametrize("profile", ["eastron_sdm630", "eastron_sdm72d"])
async def test_eastron(bus: ModbusBus, tcp_peer: TcpPeer, profile: str) -> None:
    load_float_meter(tcp_peer)
    reading = await meter(bus, profile).read()
    assert reading.voltage_v == PHASE_VALUES["voltage"]
    assert reading.current_a == PHASE_VALUES["current"]
    assert reading.power_w == PHASE_VALUES["power"]
    assert reading.total_power_w == 7500.0
    assert (reading.import_energy_wh, reading.export_energy_wh) == (12_345_500.0, 67_250.0)
    assert reading.at_s == 50.0


async def test_abb_b23(bus: ModbusBus, tcp_peer: TcpPeer) -> None:
    bank = tcp_peer.bank
    bank.set_holding_registers(0x5000, words(">Q", 1_234_567) + words(">Q", 89))
    bank.set_holding_registers(0x5B00, words(">I", 2305) + words(">I", 2310) + words(">I", 2295))
    bank.set_holding_registers(0x5B0C, words(">I", 1025) + words(">I", 1150) + words(">I", 1200))
    powers = [-150_000, 230_000, 250_000, -630_000]  # total, L1..L3 in 0.01 W; exporting
    bank.set_holding_registers(0x5B14, [w for p in powers for w in words(">i", p)])
    reading = await meter(bus, "abb_b23").read()
    assert reading.voltage_v == pytest.approx((230.5, 231.0, 229.5))
    assert reading.current_a == pytest.approx((10.25, 11.5, 12.0))
    assert reading.total_power_w == pytest.approx(-1500.0)
    assert reading.power_w == pytest.approx((2300.0, 2500.0, -6300.0))
    assert reading.import_energy_wh == 12_345_670 and reading.export_energy_wh == 890


async def test_carlo_gavazzi_em24(bus: ModbusBus, tcp_peer: TcpPeer) -> None:
    bank = tcp_peer.bank

    def lsw(value: int) -> list[int]:
        return words(">i", value, low_word_first=True)

    bank.set_input_registers(0x00, lsw(2305) + lsw(2310) + lsw(2295))
    bank.set_input_registers(0x0C, lsw(10_250) + lsw(11_500) + lsw(-12_000))
    bank.set_input_registers(0x12, lsw(23_000) + lsw(25_000) + lsw(-27_000))
    bank.set_input_registers(0x28, lsw(21_000))
    bank.set_input_registers(0x34, lsw(123_456))
    bank.set_input_registers(0x4E, lsw(789))
    reading = await meter(bus, "carlo_gavazzi_em24").read()
    assert reading.voltage_v == pytest.approx((230.5, 231.0, 229.5))
    assert reading.current_a == pytest.approx((10.25, 11.5, -12.0))
    assert reading.power_w == pytest.approx((2300.0, 2500.0, -2700.0))
    assert reading.total_power_w == pytest.approx(2100.0)
    assert reading.import_energy_wh == pytest.approx(12_345_600)
    assert reading.export_energy_wh == pytest.approx(78_900)


async def test_installer_defined_profile(bus: ModbusBus, tcp_peer: TcpPeer, tmp_path: Path) -> None:
    path = tmp_path / "my_meter.yaml"
    path.write_text(
        "kind: meter\nmodel: Site meter\nsource: https://example.org/manual.pdf\n"
        "transport: {framing: tcp}\nword_order: little\n"
        "points:\n"
        "  power_total: {table: holding, address: 10, type: s32, unit: W}\n"
        "  energy_import: {table: holding, address: 20, type: u32, scale: 10, unit: Wh}\n",
        encoding="utf-8",
    )
    tcp_peer.bank.set_holding_registers(10, words(">i", -4200, low_word_first=True))
    tcp_peer.bank.set_holding_registers(20, words(">I", 777, low_word_first=True))
    reading = await meter(bus, "generic_meter", path).read()
    assert reading.total_power_w == -4200 and reading.import_energy_wh == 7770
    assert reading.voltage_v == (0.0, 0.0, 0.0)


async def test_nan_is_refused_not_passed_up(bus: ModbusBus, tcp_peer: TcpPeer) -> None:
    load_float_meter(tcp_peer)
    grid = meter(bus, "eastron_sdm630")
    await grid.read()
    tcp_peer.bank.set_input_registers(0x34, [0x7FC0, 0x0000])  # float32 NaN
    with pytest.raises(DeviceFault, match="power_total"):
        await grid.read()
    [view] = bus.views()
    assert view.available  # the meter answered; its data was bad


async def test_negative_voltage_is_refused(bus: ModbusBus, tcp_peer: TcpPeer) -> None:
    load_float_meter(tcp_peer)
    tcp_peer.bank.set_input_registers(0x02, words(">f", -231.0))
    with pytest.raises(DeviceFault, match="voltage_l2"):
        await meter(bus, "eastron_sdm630").read()


async def test_energy_going_backwards_is_refused(bus: ModbusBus, tcp_peer: TcpPeer) -> None:
    load_float_meter(tcp_peer)
    grid = meter(bus, "eastron_sdm630")
    first = await grid.read()
    tcp_peer.bank.set_input_registers(0x48, words(">f", 12000.0))
    with pytest.raises(DeviceFault, match="backwards"):
        await grid.read()
    tcp_peer.bank.set_input_registers(0x48, words(">f", 12346.0))
    later = await grid.read()
    assert later.import_energy_wh > first.import_energy_wh
