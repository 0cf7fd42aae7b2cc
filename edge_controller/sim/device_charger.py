"""A simulated charger: its profile's registers served from a :class:`ChargerModel`."""

from __future__ import annotations

from collections.abc import Callable

from edge_controller.drivers.profiles.schema import Profile
from edge_controller.sim.device_models import behaviour_for, enabled_code, plug_code, state_code
from edge_controller.sim.devices import DeviceSim
from edge_controller.sim.faults import Fault
from edge_controller.sim.physics_charger import ChargerModel, Connector
from edge_controller.sim.registers import ILLEGAL_VALUE, PointRef

_PHASE_POINTS = {"current": 0, "voltage": 1, "power": 2}


class ChargerDevice(DeviceSim):
    """Register behaviour of one charger; writes reach the physics, reads come from it."""

    def __init__(
        self,
        device_id: str,
        profile: Profile,
        model: ChargerModel,
        voltage_v: Callable[[], float],
    ) -> None:
        super().__init__(device_id, profile, len(model.connectors))
        self.model = model
        self.behaviour = behaviour_for(profile)
        self._voltage_v = voltage_v
        self._error_code: int | None = None  # the status code an injected fault shows
        self._power_up_config = (model.config.failsafe_current_a, model.config.watchdog_timeout_s)
        self._energy_at_power_up_wh: dict[int, float] = {}
        self.power_up(0.0)

    def served_table(self, table: str | None) -> str | None:
        return self.behaviour.table_aliases.get(table, table) if table else table

    def power_up(self, now_s: float) -> None:
        self._energy_at_power_up_wh = {c.number: c.energy_wh for c in self.model.connectors}
        defaults = self.behaviour.power_up
        self.stored = {key: defaults[key[0]] for key in self.registers.refs if key[0] in defaults}
        config = self.model.config
        config.failsafe_current_a, config.watchdog_timeout_s = self._power_up_config
        self.model.last_write_s = None
        self.model.failsafe_active = False
        for connector in self.model.connectors:
            connector.setpoint_a = config.startup_current_a
            connector.enabled = True
            connector.phases_limit = 3

    def _connectors(self, ref: PointRef) -> list[Connector]:
        if ref.connector is None:
            return self.model.connectors
        return [self.model.connector(ref.connector)]

    def value(self, ref: PointRef, now_s: float) -> float:
        first = self._connectors(ref)[0]
        name = ref.name
        if name == "state":
            return float(self._state_code(first))
        simple: dict[str, Callable[[], float]] = {
            "plug": lambda: plug_code(self.profile, self.behaviour, first.state in "BCD"),
            "enabled": lambda: enabled_code(self.profile, first.enabled),
            "offered_current": lambda: first.offered_a,
            "fault_code": lambda: float(self._fault_code()),
            "set_current": lambda: self._setpoint_value(first),
            "enable": lambda: float(self.profile.setpoints.enable_raw[int(first.enabled)]),
            "failsafe_current": lambda: self.model.config.failsafe_current_a,
            "failsafe_timeout": lambda: self.model.config.watchdog_timeout_s,
            "phases": lambda: float(first.phases_limit),
            "energy_import": lambda: sum(c.energy_wh for c in self._connectors(ref)),
            "energy_since_power_on": lambda: sum(
                c.energy_wh - self._energy_at_power_up_wh.get(c.number, 0.0)
                for c in self._connectors(ref)
            ),
            "energy_export": lambda: 0.0,
            "power_total": lambda: sum(self._phase_value(ref, "power", n) for n in (1, 2, 3)),
        }
        if name in simple:
            return float(simple[name]())
        kind, _, phase = name.partition("_l")
        if kind in _PHASE_POINTS and phase in ("1", "2", "3"):
            return self._phase_value(ref, kind, int(phase))
        return super().value(ref, now_s)

    def special_raw(self, ref: PointRef, words: list[int]) -> float | None:
        off_raw = self.profile.setpoints.current_off_raw
        if ref.name == "set_current" and off_raw is not None and words == [off_raw]:
            return 0.0
        return None

    def _setpoint_value(self, connector: Connector) -> float:
        off_raw = self.profile.setpoints.current_off_raw
        if connector.setpoint_a == 0 and off_raw is not None:
            return off_raw * self.profile.points["set_current"].scale
        return connector.setpoint_a

    def _phase_value(self, ref: PointRef, kind: str, phase: int) -> float:
        voltage = self._voltage_v()
        if kind == "voltage":
            return voltage
        current = sum(c.phase_currents_a()[phase - 1] for c in self._connectors(ref))
        return current if kind == "current" else current * voltage

    def _state_code(self, connector: Connector) -> int:
        if self.model.fault and self._error_code is not None:
            return self._error_code
        letter = "F" if self.model.fault else connector.state
        return state_code(self.profile, self.behaviour, letter, connector.offered_a > 0)

    def _fault_code(self) -> int:
        if not self.model.fault:
            return 0
        return self._state_code(self.model.connectors[0])

    def check_fault(self, fault: Fault) -> None:
        assert self.profile.status is not None  # the schema requires it for chargers
        known = self.profile.status.faults
        if fault.kind == "charger_fault" and fault.error_code not in (None, *known):
            raise ValueError(
                f"error_code {fault.error_code} is not a fault code of profile "
                f"{self.profile.name} ({', '.join(str(c) for c in sorted(known)) or 'none'})"
            )

    def sync_fault(self, now_s: float) -> None:
        """The physics follows the injected charger fault (it may end by its duration)."""
        fault = self.faults.get("charger_fault", now_s)
        self.model.fault = fault is not None
        self._error_code = None if fault is None else fault.error_code

    def apply(self, ref: PointRef, value: float, now_s: float) -> int | None:
        # Any accepted write counts as the controller being alive (feeds the watchdog).
        targets = self._connectors(ref)
        name = ref.name
        if name == "set_current":
            if self.behaviour.refuses_current(value):
                return ILLEGAL_VALUE
            for connector in targets:
                self.model.write_setpoint(now_s, connector.number, value)
        elif name == "enable":
            off_raw, on_raw = self.profile.setpoints.enable_raw
            if value not in (off_raw, on_raw):
                return ILLEGAL_VALUE
            for connector in targets:
                self.model.write_enabled(now_s, connector.number, value == on_raw)
        elif name == "failsafe_current":
            self.model.config.failsafe_current_a = value
        elif name == "failsafe_timeout":
            self.model.config.watchdog_timeout_s = value
        elif name == "phases":
            if value not in (1, 3):
                return ILLEGAL_VALUE
            for connector in targets:
                connector.phases_limit = int(value)
        else:
            super().apply(ref, value, now_s)
        self.model.feed_watchdog(now_s)
        return None
