"""A bench: which devices sit on which bus, which may be written, what the line cannot answer.

``EDGE_CONTROLLER_BENCH=FILE`` (``make hil BENCH=FILE``) points the contract suite at a real
bench described by FILE (see ``bench.example.yaml``); without it the suite runs against the
simulator, one device per shipped profile (:func:`simulated_bench`).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from edge_controller.config.settings import BusSettings, ChargerSettings, MeterSettings, Settings
from edge_controller.drivers import registry
from edge_controller.drivers.modbus.bus import ModbusBus
from edge_controller.drivers.modbus.charger import ProfileCharger
from edge_controller.drivers.modbus.device import ProfileDevice
from edge_controller.drivers.profiles.schema import Profile, load_profile
from edge_controller.sim.site import RunningSim, running_site

BENCH_ENV = "EDGE_CONTROLLER_BENCH"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BenchDevice(_Strict):
    bus: str
    unit_id: int = Field(ge=0, le=255)
    profile: str
    writable: bool = Field(False, description="the suite may write its setpoints")
    illegal_address: int = Field(0xFFF0, ge=0, le=0xFFFF, description="a register it lacks")


class EvSimulator(_Strict):
    kind: Literal["none", "manual", "controlled"] = "none"
    charger: str | None = Field(None, description="the device whose connector it plugs into")
    phases: int = Field(3, ge=1, le=3)


class Bench(_Strict):
    buses: dict[str, BusSettings]
    devices: dict[str, BenchDevice]
    absent_unit_ids: dict[str, int] = Field(
        default_factory=dict, description="per bus: a unit id nobody answers (timeout test)"
    )
    watchdog_timeout_s: float = Field(3.0, gt=0, le=600)
    ev_simulator: EvSimulator = Field(default_factory=EvSimulator)


def load_bench(path: Path) -> Bench:
    return Bench.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def simulated_bench(state_dir: Path) -> Bench:
    """Every shipped profile once: network chargers on a TCP address, serial devices on an
    RTU pty line, the ABL on an ASCII one; every device may be written."""
    tcp = {"keba_kecontact_p30": 255, "phoenix_charx_sec3xxx": 1, "phoenix_em_cp_pp_eth": 180}
    rtu = {
        "heidelberg_energy_control": 1,
        "eastron_sdm630": 2,
        "eastron_sdm72d": 3,
        "carlo_gavazzi_em24": 4,
        "abb_b23": 5,
        "generic_meter": 6,
    }
    devices = {
        p: BenchDevice(bus="lan", unit_id=u, profile=p, writable=True) for p, u in tcp.items()
    }
    devices |= {
        p: BenchDevice(bus="rs485", unit_id=u, profile=p, writable=True) for p, u in rtu.items()
    }
    devices["abl_emh1"] = BenchDevice(bus="ascii", unit_id=1, profile="abl_emh1", writable=True)
    buses: dict[str, Any] = {
        "lan": {"type": "tcp", "host": "127.0.0.1", "port": _free_port(), "timeout_s": 0.5},
        "rs485": {"type": "rtu", "device": str(state_dir / "ttyBENCH"), "baud": 19200,
                  "parity": "N", "timeout_s": 0.3},
        "ascii": {"type": "rtu", "device": str(state_dir / "ttyASCII"), "baud": 38400,
                  "parity": "N", "framing": "ascii", "timeout_s": 0.3},
    }  # fmt: skip
    return Bench.model_validate(
        {
            "buses": buses,
            "devices": devices,
            "absent_unit_ids": {"lan": 77, "rs485": 77, "ascii": 77},
            "watchdog_timeout_s": 2.0,
        }
    )


def sim_settings(bench: Bench, state_dir: Path) -> Settings:
    """The simulator's site for a simulated bench: each device simulated, every meter a grid
    meter (the simulator sums every charger into it)."""
    chargers: dict[str, Any] = {}
    meters: dict[str, Any] = {}
    for device_id, device in bench.devices.items():
        entry = {"bus": device.bus, "unit_id": device.unit_id, "profile": device.profile,
                 "simulated": True}  # fmt: skip
        if load_profile(device.profile).kind == "charger":
            chargers[device_id] = entry | {"max_current_a": 16}
        else:
            meters[device_id] = entry
    return Settings.model_validate(
        {
            "site": {"id": "bench", "grid_limit_a": 63},
            "storage": {"state_dir": str(state_dir)},
            "buses": {k: v.model_dump() for k, v in bench.buses.items()},
            "chargers": chargers,
            "meters": meters,
            "simulation": {"control_port": 0, "tick_s": 0.05},
        }
    )


@dataclass
class DeviceUnderTest:
    device_id: str
    config: BenchDevice
    profile: Profile
    device: ProfileDevice
    charger: ProfileCharger | None
    bus: ModbusBus
    absent_unit_id: int | None
    sim: RunningSim | None


@contextlib.asynccontextmanager
async def open_device(
    bench: Bench, device_id: str, sim: RunningSim | None
) -> AsyncIterator[DeviceUnderTest]:
    """The device on its own opened bus, through the daemon's drivers."""
    config = bench.devices[device_id]
    profile = load_profile(config.profile)
    async with registry.build_bus(config.bus, bench.buses[config.bus]) as bus:
        charger: ProfileCharger | None = None
        if profile.kind == "charger":
            settings = ChargerSettings(bus=config.bus, unit_id=config.unit_id, profile=profile.name)
            [port] = registry.build_charger(device_id, settings, bus)[:1]
            assert isinstance(port, ProfileCharger)
            charger, device = port, port.device
        else:
            meter = MeterSettings(bus=config.bus, unit_id=config.unit_id, profile=profile.name)
            device = registry.build_meter(device_id, meter, bus).device  # type: ignore[attr-defined]
        absent = bench.absent_unit_ids.get(config.bus)
        yield DeviceUnderTest(device_id, config, profile, device, charger, bus, absent, sim)


@contextlib.asynccontextmanager
async def bench_site(state_dir: Path) -> AsyncIterator[tuple[Bench, RunningSim | None]]:
    """The bench to test: the file ``$EDGE_CONTROLLER_BENCH`` names, or the simulator."""
    path = os.environ.get(BENCH_ENV)
    if path:
        yield load_bench(Path(path)), None
        return
    bench = simulated_bench(state_dir)
    async with running_site(sim_settings(bench, state_dir)) as sim:
        yield bench, sim


def bench_device_ids(needs: set[str] | None = None) -> list[str]:
    """The devices the suite is parametrized over (known before any bench is opened): those
    whose profile has every point in ``needs`` ("writable": some writable point)."""
    path = os.environ.get(BENCH_ENV)
    bench = load_bench(Path(path)) if path else simulated_bench(Path("/nonexistent"))
    wanted = set(needs or ())
    chosen = []
    for device_id, device in sorted(bench.devices.items()):
        points = load_profile(device.profile).points
        writes = any(p.writable for p in points.values())
        if wanted - {"writable"} <= set(points) and (writes or "writable" not in wanted):
            chosen.append(device_id)
    return chosen
