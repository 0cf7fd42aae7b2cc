"""A meter driven entirely by its profile."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from edge_controller.domain.model import MeterReading
from edge_controller.drivers.modbus.device import ProfileDevice
from edge_controller.drivers.modbus.measurements import EnergyGuard, implausible, reading_from
from edge_controller.drivers.profiles.schema import MEASUREMENT_POINTS


class ProfileMeter:
    def __init__(self, device: ProfileDevice, clock: Callable[[], float]) -> None:
        self.device = device
        self._clock = clock
        self._guard = EnergyGuard()

    async def read(self) -> MeterReading:
        """A plausible reading or DeviceFault/DeviceUnavailable; never a half-checked number."""
        await self.device.ensure_initialised()
        values = await self.device.read(MEASUREMENT_POINTS, check=self._plausible)
        return reading_from(values, self._clock())

    def _plausible(self, values: Mapping[str, float]) -> str | None:
        return implausible(values) or self._guard.check(values)

    async def peek(self) -> MeterReading:
        """A plausible reading without the start-up writes: a look that never writes."""
        values = await self.device.read(MEASUREMENT_POINTS, check=implausible)
        return reading_from(values, self._clock())
