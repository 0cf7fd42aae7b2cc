"""A simulated energy meter: its profile's registers served from a :class:`MeterModel`."""

from __future__ import annotations

from edge_controller.drivers.profiles.schema import Profile
from edge_controller.sim.device_models import behaviour_for
from edge_controller.sim.devices import DeviceSim
from edge_controller.sim.physics_site import MeterModel
from edge_controller.sim.registers import PointRef

FREQUENCY_HZ = 50.0


class MeterDevice(DeviceSim):
    """Register behaviour of one meter. Currents are magnitudes; power is signed (export < 0)."""

    def __init__(self, device_id: str, profile: Profile, model: MeterModel) -> None:
        super().__init__(device_id, profile, 1)
        self.model = model
        self.power_up(0.0)

    def power_up(self, now_s: float) -> None:
        defaults = behaviour_for(self.profile).power_up
        self.stored = {key: defaults[key[0]] for key in self.registers.refs if key[0] in defaults}

    def value(self, ref: PointRef, now_s: float) -> float:
        meter = self.model
        name = ref.name
        kind, _, phase = name.partition("_l")
        if phase in ("1", "2", "3"):
            index = int(phase) - 1
            if kind == "current":
                return abs(meter.current_a[index])
            if kind == "voltage":
                return meter.voltage_v[index]
            if kind == "power":
                return meter.power_w[index]
        values = {
            "power_total": sum(meter.power_w),
            "energy_import": meter.import_wh,
            "energy_export": meter.export_wh,
            "frequency": FREQUENCY_HZ,
        }
        if name in values:
            return values[name]
        return super().value(ref, now_s)
