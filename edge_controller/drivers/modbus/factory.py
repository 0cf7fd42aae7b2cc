"""Build buses, chargers and meters from configuration and profiles."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

from edge_controller.drivers.modbus.bus import DeviceTiming, LineTiming, ModbusBus
from edge_controller.drivers.modbus.charger import MeterMixin, ProfileCharger, WatchdogMixin
from edge_controller.drivers.modbus.config import (
    BusConfig,
    ChargerConfig,
    DeviceConfig,
    MeterConfig,
    RtuBusConfig,
    RtuOverTcpBusConfig,
    TcpBusConfig,
)
from edge_controller.drivers.modbus.device import ProfileDevice
from edge_controller.drivers.modbus.links import Link, SerialLink, TcpLink
from edge_controller.drivers.modbus.meter import ProfileMeter
from edge_controller.drivers.modbus.trace import TraceHeader, TraceRecorder
from edge_controller.drivers.modbus.transport import Framing, Transport
from edge_controller.drivers.profiles.schema import (
    MEASUREMENT_POINTS,
    Profile,
    ProfileError,
    load_profile,
    load_profile_file,
)
from edge_controller.ports import Charger, Meter, NotSupported

Clock = Callable[[], float]


def build_bus(bus_id: str, config: BusConfig, clock: Clock = time.time) -> ModbusBus:
    """An unopened bus; use it as ``async with bus:``."""
    defaults = DeviceTiming(config.timeout_s, config.retries, config.min_gap_s)
    link, kind, line = _link(bus_id, config)
    return ModbusBus(
        bus_id, Transport(link, kind, _recorder(bus_id, config)), line, defaults, clock
    )


def _link(bus_id: str, config: BusConfig) -> tuple[Link, Framing, LineTiming]:
    if config.type == "tcp":
        tcp = cast(TcpBusConfig, config)
        # The bus's gap holds between any two frames (a gateway to a serial line needs it).
        return TcpLink(tcp.host, tcp.port, config.timeout_s), "tcp", LineTiming(gap_s=tcp.min_gap_s)
    if config.type == "rtu_over_tcp":
        gateway = cast(RtuOverTcpBusConfig, config)
        link = TcpLink(gateway.host, gateway.port, config.timeout_s)
        line = LineTiming(gateway.baud, config.min_gap_s, gateway.turnaround_s)
        return link, _framing(gateway.framing), line
    if config.type == "rtu":
        rtu = cast(RtuBusConfig, config)
        serial_link = SerialLink(rtu.device, rtu.baud, rtu.parity, rtu.stop_bits, rtu.data_bits)
        line = LineTiming(rtu.baud, config.min_gap_s, rtu.turnaround_s)
        return serial_link, _framing(rtu.framing), line
    raise NotSupported(f"bus {bus_id}: unknown bus type {config.type!r}")


def _recorder(bus_id: str, config: BusConfig) -> TraceRecorder | None:
    """A bus with ``record:`` appends every transaction to its trace."""
    path = getattr(config, "record", None)
    if path is None:
        return None
    framing = "tcp" if config.type == "tcp" else str(getattr(config, "framing", "rtu"))
    baud, parity = getattr(config, "baud", None), getattr(config, "parity", None)
    return TraceRecorder(Path(path), TraceHeader(bus_id, framing, baud, parity))


def _framing(name: str) -> Framing:
    if name not in ("rtu", "ascii"):
        raise NotSupported(f"unknown serial framing {name!r}")
    return cast(Framing, name)


def device_profile(config: DeviceConfig, kind: str) -> Profile:
    try:
        if config.profile_file is not None:
            profile = load_profile_file(config.profile_file)
        else:
            profile = load_profile(config.profile)
    except ProfileError as exc:
        raise NotSupported(str(exc)) from exc
    if profile.kind != kind:
        raise NotSupported(f"profile {profile.name} describes a {profile.kind}, not a {kind}")
    return profile


def _check_framing(device_id: str, profile: Profile, bus: ModbusBus) -> None:
    speaks, bus_kind = profile.transport.framing, bus.transport.kind
    if "ascii" in (speaks, bus_kind) and speaks != bus_kind:
        raise NotSupported(
            f"{device_id}: profile {profile.name} speaks Modbus {speaks.upper()}, "
            f"bus {bus.bus_id} uses {bus_kind.upper()} framing (set framing: {speaks})"
        )


def _channel_timing(profile: Profile, bus: ModbusBus) -> DeviceTiming:
    defaults = bus.defaults
    return DeviceTiming(
        timeout_s=max(defaults.timeout_s, profile.transport.timeout_s),
        retries=defaults.retries,
        min_gap_s=max(defaults.min_gap_s, profile.transport.min_gap_s),
    )


def charger_class(profile: Profile) -> type[ProfileCharger]:
    """ProfileCharger plus the optional abilities this profile's points support."""
    bases: list[type[ProfileCharger]] = []
    if profile.has_watchdog:
        bases.append(WatchdogMixin)
    if set(MEASUREMENT_POINTS) & set(profile.points):
        bases.append(MeterMixin)
    if not bases:
        return ProfileCharger
    name = "ProfileCharger" + "".join(b.__name__.removesuffix("Mixin") for b in bases)
    return type(name, tuple(bases), {})


def build_charger(
    charger_id: str, config: ChargerConfig, bus: ModbusBus, clock: Clock = time.time
) -> list[Charger]:
    """One Charger per connector (connector ids ``<charger_id>:<n>``)."""
    profile = device_profile(config, "charger")
    _check_framing(charger_id, profile, bus)
    if config.connectors > profile.connectors.count:
        raise NotSupported(
            f"{charger_id}: profile {profile.name} has {profile.connectors.count} connector(s)"
        )
    channel = bus.attach(charger_id, config.unit_id, _channel_timing(profile, bus))
    cls = charger_class(profile)
    return [
        cls(ProfileDevice(channel, profile, n), config.max_current_a, clock, config.min_current_a)
        for n in range(1, config.connectors + 1)
    ]


def build_meter(
    meter_id: str, config: MeterConfig, bus: ModbusBus, clock: Clock = time.time
) -> Meter:
    profile = device_profile(config, "meter")
    _check_framing(meter_id, profile, bus)
    critical = config.role == "grid"  # the grid meter is never made to wait behind chargers
    channel = bus.attach(meter_id, config.unit_id, _channel_timing(profile, bus), critical)
    return ProfileMeter(ProfileDevice(channel, profile), clock)
