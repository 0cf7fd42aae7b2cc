"""A charger (one connector) driven entirely by its profile.

Optional abilities are mixins added only when the profile has the points for them, so
``isinstance(charger, DeviceWatchdog)`` at wiring time tells the truth.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from edge_controller.domain.model import ChargerStatus, CpState, MeterReading
from edge_controller.drivers.modbus.device import ProfileDevice, read_blocks
from edge_controller.drivers.modbus.measurements import EnergyGuard, implausible, reading_from
from edge_controller.drivers.profiles.schema import MEASUREMENT_POINTS, Status
from edge_controller.ports import DeviceFault

STATUS_POINTS = ("state", "plug", "enabled", "offered_current")


def status_names(status: Status) -> list[str]:
    """The points one status poll reads."""
    names = [status.point, *(n for n in STATUS_POINTS if n != status.point)]
    if status.plug_point and status.plug_point not in names:
        names.append(status.plug_point)
    return names


def cp_state(status: Status, code: int, plug_code: int | None) -> tuple[CpState, str | None]:
    """IEC 61851 state and fault text for a vendor status code. Pure."""
    letter = status.states.get(code)
    fault = status.faults.get(code)
    if letter is None:
        return CpState.F, fault or f"unknown status code {code}"
    state = CpState(letter)
    if plug_code is not None and plug_code not in status.plugged_values and state.plugged:
        state = CpState.A  # the vendor state says ready, but no EV is connected
    return state, fault


class ProfileCharger:
    def __init__(
        self,
        device: ProfileDevice,
        max_current_a: float,
        clock: Callable[[], float],
        min_current_a: float = 6.0,
    ) -> None:
        self.device = device
        self.max_current_a = max_current_a
        self.min_current_a = min_current_a
        self._clock = clock
        self._enabled = True
        self._wanted_a = 0.0
        self._failsafe: tuple[float, float] | None = None
        self._failsafe_written: tuple[float, float] | None = None  # since the last start-up
        self._device_on: bool | None = None  # last enable state written (None: unknown)

    @property
    def connector_id(self) -> str:
        return f"{self.device.channel.device_id}:{self.device.connector}"

    async def read_status(self) -> ChargerStatus:
        await self._prepare()
        return await self.peek_status()

    async def peek_status(self) -> ChargerStatus:
        """The status, read without the start-up writes: a look that never writes (the
        selftest's, while the daemon drives the charger)."""
        status = self.device.profile.status
        assert status is not None  # the schema requires it for chargers
        return self._status_from(await self.device.read(status_names(status)))

    def _status_from(self, values: Mapping[str, float]) -> ChargerStatus:
        status = self.device.profile.status
        assert status is not None
        plug = values.get(status.plug_point) if status.plug_point else None
        state, fault = cp_state(status, int(values[status.point]), _int(plug))
        enabled = self._enabled
        if "enabled" in values and not self.device.profile.setpoints.pause_with_enable:
            enabled = int(values["enabled"]) in status.enabled_values
        return ChargerStatus(
            state=state,
            enabled=enabled,
            offered_current_a=values.get("offered_current", self._offered_a()),
            fault_text=fault,
            at_s=self._clock(),
        )

    async def set_current(self, current_a: float) -> None:
        if not math.isfinite(current_a) or current_a < 0:
            raise DeviceFault(f"{self.connector_id}: invalid current {current_a!r}")
        self._wanted_a = self._limited(current_a)
        await self._prepare()
        await self._apply()

    async def set_enabled(self, enabled: bool) -> None:
        self._enabled = enabled
        await self._prepare()
        await self._apply()

    def _offered_a(self) -> float:
        return self._wanted_a if self._enabled else 0.0

    async def _apply(self) -> None:
        """Write the effective setpoint the way this model pauses and resumes."""
        effective_a = self._offered_a()
        setpoints = self.device.profile.setpoints
        if not self.device.has("enable"):
            await self._write_current(effective_a)
            return
        device_on = effective_a > 0 if setpoints.pause_with_enable else self._enabled
        if effective_a > 0 or not setpoints.pause_with_enable:
            await self._write_current(effective_a)
        if device_on != self._device_on:
            off_raw, on_raw = setpoints.enable_raw
            self._device_on = None  # unknown until answered: a write cut short may have landed
            await self.device.write_raw("enable", [on_raw if device_on else off_raw])
            self._device_on = device_on

    def _limited(self, current_a: float) -> float:
        if current_a < max(self.device.profile.setpoints.current_off_below_a, self.min_current_a):
            return 0.0  # below what the charger (or the installer) allows: pause, never round up
        point = self.device.point("set_current")
        capped_a = min(current_a, self.max_current_a, point.max if point.max is not None else 80.0)
        # Round down to the register's step: the codec rounds to nearest, which could offer more
        # than the allocation (6.7 A on a 1 A register would become 7 A).
        step_a = abs(point.scale)
        return math.floor(capped_a / step_a + 1e-6) * step_a

    async def _write_current(self, current_a: float) -> None:
        off_raw = self.device.profile.setpoints.current_off_raw
        if current_a == 0 and off_raw is not None:
            await self.device.write_raw("set_current", [off_raw])
        else:
            await self.device.write("set_current", current_a)

    async def _prepare(self) -> None:
        """Start-up writes and the watchdog settings, once however many pollers ask at once;
        again after an outage."""
        await self.device.ensure_initialised(then=self._after_start_up)

    async def _after_start_up(self) -> None:
        self._device_on = None
        self._failsafe_written = None
        if self._failsafe is not None:
            await self._write_failsafe(*self._failsafe)

    async def _write_failsafe(self, current_a: float, timeout_s: float) -> None:
        self._failsafe_written = None  # unknown until both writes are answered
        await self.device.write("failsafe_current", self._limited(current_a))
        await self.device.write("failsafe_timeout", timeout_s)
        self._failsafe_written = (current_a, timeout_s)


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


class WatchdogMixin(ProfileCharger):
    """The charger falls back to a failsafe current by itself when our writes stop."""

    async def program_failsafe(self, current_a: float, timeout_s: float) -> None:
        self._failsafe = (current_a, timeout_s)
        await self._prepare()  # a start-up (here or in a poller meanwhile) writes them too
        if self._failsafe_written != self._failsafe:
            await self._write_failsafe(current_a, timeout_s)


class MeterMixin(ProfileCharger):
    """The charger measures its own currents, power and energy; its status and meter can be
    read in one go (``read_status_and_meter``): in one request where the model's register map
    lets one read cover both, else one request after the other; either way both or neither.
    The control loop uses it only in the first case (``status_and_meter_share_a_request``)."""

    _guard: EnergyGuard | None = None
    _together: tuple[str, ...] = ()  # the points of a read of both, once known

    async def read_meter(self) -> MeterReading:
        await self._prepare()
        values = await self.device.read(MEASUREMENT_POINTS, check=self._plausible)
        return reading_from(values, self._clock())

    def _plausible(self, values: Mapping[str, float]) -> str | None:
        """Why these measurements cannot be right, or None; one energy guard for every read
        of this meter, alone or with the status, so its energy never runs backwards."""
        guard = self._guard = self._guard or EnergyGuard()
        return implausible(values) or guard.check(values)

    @property
    def status_and_meter_share_a_request(self) -> bool:
        """Whether the model's register map lets one request read points of both."""
        meter = set(MEASUREMENT_POINTS)
        for block in read_blocks(self.device.profile, self._both(), self.device.connector):
            names = {member.name for member in block.members}
            if names & meter and names - meter:
                return True
        return False

    def _both(self) -> tuple[str, ...]:
        if not self._together:
            status = self.device.profile.status
            assert status is not None
            self._together = (*status_names(status), *MEASUREMENT_POINTS)
        return self._together

    async def read_status_and_meter(self) -> tuple[ChargerStatus, MeterReading]:
        await self._prepare()
        # The check sees the values of every request: a reply that failed or did not decode
        # leaves both parts unread, and the guard remembers energy only of a whole read.
        values = await self.device.read(self._both(), check=self._plausible)
        return self._status_from(values), reading_from(values, self._clock())
