"""What the Modbus drivers need from the site configuration, as structural types.

The settings models satisfy these Protocols; drivers never import the settings module.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol


class BusConfig(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def timeout_s(self) -> float: ...
    @property
    def retries(self) -> int: ...
    @property
    def min_gap_s(self) -> float: ...
    @property
    def record(self) -> Path | None: ...


class TcpBusConfig(BusConfig, Protocol):
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...


class SerialLineConfig(BusConfig, Protocol):
    @property
    def baud(self) -> int: ...
    @property
    def turnaround_s(self) -> float: ...
    @property
    def framing(self) -> str: ...


class RtuOverTcpBusConfig(TcpBusConfig, SerialLineConfig, Protocol):
    pass


class RtuBusConfig(SerialLineConfig, Protocol):
    @property
    def device(self) -> str: ...
    @property
    def parity(self) -> str: ...
    @property
    def stop_bits(self) -> int: ...
    @property
    def data_bits(self) -> int: ...


class DeviceConfig(Protocol):
    @property
    def bus(self) -> str: ...
    @property
    def unit_id(self) -> int: ...
    @property
    def profile(self) -> str: ...
    @property
    def profile_file(self) -> Path | None: ...
    @property
    def poll_interval_s(self) -> float: ...


class ChargerConfig(DeviceConfig, Protocol):
    @property
    def connectors(self) -> int: ...
    @property
    def failsafe_timeout_s(self) -> float: ...
    @property
    def max_current_a(self) -> float: ...
    @property
    def min_current_a(self) -> float: ...


class MeterConfig(DeviceConfig, Protocol):
    @property
    def role(self) -> str: ...


class LoopConfig(Protocol):
    @property
    def tick_s(self) -> float: ...


class SiteConfig(Protocol):
    @property
    def site(self) -> LoopConfig: ...
    @property
    def buses(self) -> Mapping[str, BusConfig]: ...
    @property
    def chargers(self) -> Mapping[str, ChargerConfig]: ...
    @property
    def meters(self) -> Mapping[str, MeterConfig]: ...
