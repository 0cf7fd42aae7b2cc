"""Which device profiles exist. Profiles are data files; the core never imports a driver."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from edge_controller.ports import Charger, Meter, NotSupported

if TYPE_CHECKING:
    from edge_controller.drivers.modbus.bus import ModbusBus
    from edge_controller.drivers.modbus.config import (
        BusConfig,
        ChargerConfig,
        MeterConfig,
        SiteConfig,
    )

PROFILES_DIR = Path(__file__).parent / "profiles"


def profile_kinds(directory: Path = PROFILES_DIR) -> dict[str, str]:
    """Map each shipped profile name (file stem) to its device kind (``charger`` or ``meter``)."""
    kinds: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("kind"), str):
            kinds[path.stem] = data["kind"]
    return kinds


# Factories by type name. Bus types map to the module that builds them; a profile name maps to
# a driver module only where its behaviour cannot be expressed as data (none of the shipped
# models needs one: they all run on the profile-driven Modbus driver).
MODBUS_FACTORY = "edge_controller.drivers.modbus.factory"
BUS_FACTORIES: dict[str, str] = {
    "tcp": MODBUS_FACTORY,
    "rtu": MODBUS_FACTORY,
    "rtu_over_tcp": MODBUS_FACTORY,
}
DRIVER_MODULES: dict[str, str] = {}


def _module(name: str) -> Any:
    return importlib.import_module(name)


def build_bus(bus_id: str, config: BusConfig, clock: Callable[[], float] = time.time) -> ModbusBus:
    """An unopened bus for ``config.type``; open it with ``async with``."""
    module = BUS_FACTORIES.get(config.type)
    if module is None:
        raise NotSupported(f"bus {bus_id}: unknown bus type {config.type!r}")
    bus: ModbusBus = _module(module).build_bus(bus_id, config, clock)
    return bus


def build_charger(
    charger_id: str, config: ChargerConfig, bus: ModbusBus, clock: Callable[[], float] = time.time
) -> list[Charger]:
    """One Charger per connector, by profile name."""
    factory = _module(DRIVER_MODULES.get(config.profile, MODBUS_FACTORY))
    chargers: list[Charger] = factory.build_charger(charger_id, config, bus, clock)
    return chargers


def build_meter(
    meter_id: str, config: MeterConfig, bus: ModbusBus, clock: Callable[[], float] = time.time
) -> Meter:
    factory = _module(DRIVER_MODULES.get(config.profile, MODBUS_FACTORY))
    meter: Meter = factory.build_meter(meter_id, config, bus, clock)
    return meter


def bus_timing_report(settings: SiteConfig) -> list[str]:
    """Per serial bus: sweep time from the wire-time model, and warnings (for check-config)."""
    report: list[str] = _module("edge_controller.drivers.modbus.timing_report").bus_timing_report(
        settings
    )
    return report
