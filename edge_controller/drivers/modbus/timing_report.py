"""``bus_timing_report``: can each serial bus serve its devices' poll intervals? Pure.

Every device's poll is planned exactly as the drivers read it (same blocks), timed with the
RTU/ASCII wire-time model, and summed per bus. Lines starting with ``WARNING`` are problems.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, cast

from edge_controller.drivers.modbus import wiretime
from edge_controller.drivers.modbus.charger import STATUS_POINTS
from edge_controller.drivers.modbus.config import (
    DeviceConfig,
    SerialLineConfig,
    SiteConfig,
    TcpBusConfig,
)
from edge_controller.drivers.modbus.factory import device_profile
from edge_controller.drivers.modbus.reads import plan_reads
from edge_controller.drivers.profiles.schema import MEASUREMENT_POINTS, Profile
from edge_controller.ports import NotSupported

SERIAL_TYPES = ("rtu", "rtu_over_tcp")
WRITE_PDU_BYTES = 5  # FC 06 request and reply


@dataclass(frozen=True, slots=True)
class DeviceLoad:
    device_id: str
    poll_s: float  # line time of one poll
    interval_s: float
    grid: bool


def _blocks_s(
    profile: Profile, names: Iterable[str], connector: int, line: SerialLineConfig, gap_s: float
) -> float:
    points = [
        (n, profile.points[n], profile.address_of(profile.points[n], connector))
        for n in names
        if n in profile.points
    ]
    transport = profile.transport
    framing = cast(Literal["rtu", "ascii"], line.framing)
    total = 0.0
    for block in plan_reads(points, transport.max_read_registers, transport.max_hole_registers):
        words = (block.count + 7) // 8 if block.table in ("coil", "discrete") else 2 * block.count
        total += wiretime.transaction_s(
            line.baud, 5, 2 + words, turnaround_s=line.turnaround_s, gap_s=gap_s, framing=framing
        )
    return total


def poll_time_s(profile: Profile, connectors: int, line: SerialLineConfig, gap_s: float) -> float:
    """Line time of one routine poll of a device (a charger also gets one setpoint write)."""
    if profile.kind == "meter":
        return _blocks_s(profile, MEASUREMENT_POINTS, 1, line, gap_s)
    framing = cast(Literal["rtu", "ascii"], line.framing)
    write_s = wiretime.transaction_s(
        line.baud,
        WRITE_PDU_BYTES,
        WRITE_PDU_BYTES,
        turnaround_s=line.turnaround_s,
        gap_s=gap_s,
        framing=framing,
    )
    names = (*STATUS_POINTS, *MEASUREMENT_POINTS)
    if profile.status is not None and profile.status.plug_point:
        names = (*names, profile.status.plug_point)
    per_connector = [_blocks_s(profile, names, n, line, gap_s) for n in range(1, connectors + 1)]
    return sum(per_connector) + connectors * write_s


def _profile_warnings(
    bus_id: str, device_id: str, profile: Profile, line: SerialLineConfig
) -> list[str]:
    spoken = profile.transport.framing
    warnings = []
    if spoken == "tcp":
        warnings.append(
            f"WARNING bus {bus_id}: {device_id} ({profile.name}) speaks Modbus TCP only"
        )
    elif spoken != line.framing:
        warnings.append(
            f"WARNING bus {bus_id}: {device_id} ({profile.name}) speaks Modbus {spoken.upper()}, "
            f"the bus uses {line.framing.upper()} (set framing: {spoken})"
        )
    if profile.transport.baud and profile.transport.baud != line.baud:
        warnings.append(
            f"WARNING bus {bus_id}: {device_id} ({profile.name}) ships at "
            f"{profile.transport.baud} baud, the bus runs {line.baud}"
        )
    return warnings


def _bus_lines(bus_id: str, line: SerialLineConfig, loads: list[DeviceLoad]) -> list[str]:
    sweep_s = sum(load.poll_s for load in loads)
    share = sum(load.poll_s / load.interval_s for load in loads)
    lines = [
        f"bus {bus_id}: {line.framing} {line.baud} baud, {len(loads)} device(s), "
        f"sweep {sweep_s:.3f} s, line load {share * 100:.0f} %"
    ]
    if share > 1:
        lines.append(
            f"WARNING bus {bus_id}: polls need {share:.2f} s of line time per second; chargers' "
            "routine reads will be round-robined (the grid meter keeps priority) — raise "
            "poll intervals, the baud rate, or split the bus"
        )
    for load in loads:
        if load.poll_s > load.interval_s:
            lines.append(
                f"WARNING bus {bus_id}: {load.device_id} needs {load.poll_s:.3f} s per poll "
                f"but is polled every {load.interval_s:g} s"
            )
    grid_s = sum(load.poll_s for load in loads if load.grid)
    grid_interval = min((load.interval_s for load in loads if load.grid), default=None)
    if grid_interval is not None and grid_s > grid_interval:
        lines.append(
            f"WARNING bus {bus_id}: the grid meter alone cannot be read every {grid_interval:g} s"
        )
    return lines


_Found = tuple[str, str, DeviceConfig, int, bool]  # kind, id, config, connectors, grid meter


def _devices(site: SiteConfig, bus_id: str) -> list[_Found]:
    found: list[_Found] = []
    for charger_id, charger in site.chargers.items():
        if charger.bus == bus_id:
            found.append(("charger", charger_id, charger, charger.connectors, False))
    for meter_id, meter in site.meters.items():
        if meter.bus == bus_id:
            found.append(("meter", meter_id, meter, 1, meter.role == "grid"))
    return found


def _shared_endpoints(settings: SiteConfig) -> list[str]:
    """Two buses on one host:port would open two connections to one device or gateway."""
    seen: dict[tuple[str, int], str] = {}
    lines = []
    for bus_id, bus in settings.buses.items():
        if bus.type not in ("tcp", "rtu_over_tcp"):
            continue
        tcp = cast(TcpBusConfig, bus)
        other = seen.setdefault((tcp.host, tcp.port), bus_id)
        if other != bus_id:
            lines.append(
                f"WARNING bus {bus_id}: {tcp.host}:{tcp.port} is also bus {other}; "
                "put the devices on one bus so they share one connection"
            )
    return lines


def bus_timing_report(settings: SiteConfig) -> list[str]:
    """Lines for ``check-config``: per serial bus its sweep time, and warnings."""
    lines: list[str] = _shared_endpoints(settings)
    for bus_id, bus in settings.buses.items():
        if bus.type not in SERIAL_TYPES:
            continue
        line = cast(SerialLineConfig, bus)
        loads, warnings = [], []
        for kind, device_id, config, connectors, grid in _devices(settings, bus_id):
            try:
                profile = device_profile(config, kind)
            except NotSupported:
                continue  # unknown profiles are reported by the config checks
            warnings += _profile_warnings(bus_id, device_id, profile, line)
            gap_s = max(bus.min_gap_s, profile.transport.min_gap_s)
            poll_s = poll_time_s(profile, connectors, line, gap_s)
            loads.append(DeviceLoad(device_id, poll_s, config.poll_interval_s, grid))
        lines += _bus_lines(bus_id, line, loads) + warnings
    return lines
