"""The site's devices: every bus opened for the daemon's lifetime and the ports built on it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge_controller.config.settings import Settings
from edge_controller.domain.balancing import wiring_from_rotation
from edge_controller.domain.balancing.wiring import reading_to_grid_phases
from edge_controller.domain.model import MeterReading
from edge_controller.domain.snapshot import DeviceView
from edge_controller.drivers import registry
from edge_controller.log import get_logger
from edge_controller.ports import Charger, Meter

log = get_logger("app")


@dataclass
class Hardware:
    chargers: dict[str, Charger] = field(default_factory=dict)  # by connector id
    grid_meter: Meter | None = None
    connector_meters: dict[str, Meter] = field(default_factory=dict)
    device_views: list[Callable[[], Sequence[DeviceView]]] = field(default_factory=list)
    buses: dict[str, Any] = field(default_factory=dict)  # opened ModbusBus by bus id (scans)


async def open_hardware(settings: Settings, stack: contextlib.AsyncExitStack) -> Hardware:
    """Open every bus (its lifetime is the daemon's) and build the device ports on it."""
    hw = Hardware()
    buses = hw.buses
    for bus_id, bus_settings in settings.buses.items():
        bus = registry.build_bus(bus_id, bus_settings, time.time)
        buses[bus_id] = await stack.enter_async_context(bus)
        hw.device_views.append(bus.views)
    for charger_id, charger in settings.chargers.items():
        ports = registry.build_charger(charger_id, charger, buses[charger.bus], time.time)
        for n, port in enumerate(ports, start=1):
            hw.chargers[f"{charger_id}:{n}"] = port
    for meter_id, meter in settings.meters.items():
        meter_port = registry.build_meter(meter_id, meter, buses[meter.bus], time.time)
        if meter.role == "grid":
            hw.grid_meter = GridPhaseMeter(meter_port, wiring_from_rotation(meter.phase_rotation))
        elif meter.role == "connector" and meter.connector is not None:
            target = meter.connector if ":" in meter.connector else f"{meter.connector}:1"
            hw.connector_meters[target] = meter_port
        else:
            log.warning("feeder meters are not read yet; the feeder limit counts our offers only",
                        meter=meter_id)  # fmt: skip
    return hw


class GridPhaseMeter:
    """A meter whose readings are turned into grid phase order (its phase rotation)."""

    def __init__(self, meter: Meter, wiring: tuple[int, ...]) -> None:
        self._meter, self._wiring = meter, wiring

    async def read(self) -> MeterReading:
        return reading_to_grid_phases(await self._meter.read(), self._wiring)
