"""The running simulated site: physics, devices and the EV script, plus the control operations.

No I/O: the servers and the control interface call into this object; the clock is an argument.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from edge_controller.domain.model import Phases3
from edge_controller.sim.device_charger import ChargerDevice
from edge_controller.sim.device_meter import MeterDevice
from edge_controller.sim.devices import DeviceSim, WriteRecord
from edge_controller.sim.physics_charger import Connector
from edge_controller.sim.physics_ev import EvProfile
from edge_controller.sim.physics_site import SiteModel


class SimError(ValueError):
    """A control request names something that does not exist."""


class SimStartError(RuntimeError):
    """The simulator cannot start as configured (port taken, no loopback, socat missing...)."""


class SimConflict(SimError):
    """A control request is not possible in the current state (e.g. plugging twice)."""


@dataclass(frozen=True, slots=True)
class ScriptedPause:
    """The EV pauses itself at ``pause_s`` and resumes at ``resume_s`` (None: stays paused);
    ``keep_state_c``: it keeps asking (state C) and draws nothing, else it shows state B."""

    pause_s: float
    resume_s: float | None = None
    keep_state_c: bool = False


@dataclass(frozen=True, slots=True)
class Arrival:
    connector: str
    profile: EvProfile
    arrive_s: float
    leave_s: float | None = None
    pauses: tuple[ScriptedPause, ...] = ()


@dataclass(slots=True)
class SimSite:
    model: SiteModel
    chargers: dict[str, ChargerDevice]
    meters: dict[str, MeterDevice]
    script: list[Arrival] = field(default_factory=list)
    started_s: float = 0.0
    _arrived: set[int] = field(default_factory=set)
    _left: set[int] = field(default_factory=set)
    _done: set[tuple[int, int, str]] = field(default_factory=set)  # (visit, pause, event)

    @property
    def devices(self) -> dict[str, DeviceSim]:
        return {**self.chargers, **self.meters}

    def device(self, device_id: str) -> DeviceSim:
        device = self.devices.get(device_id)
        if device is None:
            raise SimError(f"no simulated device {device_id!r}")
        return device

    def _split(self, connector_id: str) -> tuple[ChargerDevice, int]:
        charger_id, _, number = connector_id.rpartition(":")
        charger = self.chargers.get(charger_id)
        if charger is None or not number.isdigit():
            raise SimError(f"no simulated connector {connector_id!r} (use charger:n)")
        if not 1 <= int(number) <= len(charger.model.connectors):
            raise SimError(f"charger {charger_id!r} has no connector {number}")
        return charger, int(number)

    # -- control operations ------------------------------------------------------------------
    def plug(self, now_s: float, connector_id: str, profile: EvProfile) -> None:
        charger, number = self._split(connector_id)
        try:
            charger.model.plug(now_s, number, profile)
        except ValueError as exc:
            raise SimConflict(str(exc)) from exc

    def unplug(self, now_s: float, connector_id: str, immediate: bool = False) -> None:
        charger, number = self._split(connector_id)
        try:
            charger.model.unplug(now_s, number)
        except ValueError as exc:
            raise SimConflict(str(exc)) from exc
        if immediate:
            charger.model.connector(number).leave_at_s = now_s

    def pause(self, connector_id: str, keep_state_c: bool = False) -> None:
        """The EV plugged at ``connector_id`` stops drawing on its own (state B, or C)."""
        charger, number = self._split(connector_id)
        try:
            charger.model.pause(number, keep_state_c)
        except ValueError as exc:
            raise SimConflict(str(exc)) from exc

    def resume(self, connector_id: str) -> None:
        charger, number = self._split(connector_id)
        try:
            charger.model.resume(number)
        except ValueError as exc:
            raise SimConflict(str(exc)) from exc

    def set_base_load(self, current_a: Phases3 | None) -> None:
        self.model.base_override_a = current_a

    def step(self, now_s: float) -> None:
        self._run_script(now_s)
        for charger in self.chargers.values():
            charger.sync_fault(now_s)
        self.model.step(now_s)

    def _run_script(self, now_s: float) -> None:
        elapsed_s = now_s - self.started_s
        for index, arrival in enumerate(self.script):
            if index not in self._arrived and elapsed_s >= arrival.arrive_s:
                self._arrived.add(index)
                try:
                    self.plug(now_s, arrival.connector, arrival.profile)
                except SimError:
                    self._left.add(index)  # the connector was taken by hand; skip this visit
            if index in self._arrived and index not in self._left:
                self._run_pauses(index, arrival, elapsed_s)
            leave = arrival.leave_s
            due = leave is not None and elapsed_s >= leave
            if due and index in self._arrived and index not in self._left:
                self._left.add(index)
                with contextlib.suppress(SimError):  # already unplugged by hand
                    self.unplug(now_s, arrival.connector)

    def _run_pauses(self, index: int, arrival: Arrival, elapsed_s: float) -> None:
        for number, pause in enumerate(arrival.pauses):
            events = [("pause", pause.pause_s), ("resume", pause.resume_s)]
            for event, at_s in events:
                key = (index, number, event)
                if at_s is None or elapsed_s < at_s or key in self._done:
                    continue
                self._done.add(key)
                # (paused, resumed or unplugged by hand meanwhile: the script's step is moot)
                with contextlib.suppress(SimError):
                    if event == "pause":
                        self.pause(arrival.connector, pause.keep_state_c)
                    else:
                        self.resume(arrival.connector)

    # -- inspection --------------------------------------------------------------------------
    def snapshot(self, now_s: float) -> dict[str, Any]:
        """The whole simulated state (JSON-ready; units in field names)."""
        connectors: dict[str, Any] = {}
        for charger_id, charger in self.chargers.items():
            for connector in charger.model.connectors:
                connectors[f"{charger_id}:{connector.number}"] = self._connector_view(
                    charger_id, charger, connector
                )
        return {
            "at_s": now_s,
            "voltage_v": self.model.voltage_v,
            "base_load_a": list(self.model.base_current_a(now_s)),
            "base_load_override": self.model.base_override_a is not None,
            "connectors": connectors,
            "meters": {mid: _meter_view(meter) for mid, meter in self.meters.items()},
            "devices": {did: self.device_view(did, now_s, points=False) for did in self.devices},
        }

    def _connector_view(
        self, charger_id: str, charger: ChargerDevice, connector: Connector
    ) -> dict[str, Any]:
        ev = connector.ev
        grid = self.model.charger_grid_a(charger_id, connector.number)
        return {
            "state": connector.state,
            "offered_a": connector.offered_a,
            "setpoint_a": connector.setpoint_a,
            "enabled": connector.enabled,
            "failsafe_active": charger.model.failsafe_active,
            "drawn_a": list(connector.phase_currents_a()),
            "grid_current_a": list(grid),
            "energy_wh": connector.energy_wh,
            "session_energy_wh": connector.session_energy_wh,
            "ev": None
            if ev is None
            else {
                "phases": ev.phases,
                "max_current_a": ev.profile.max_current_a,
                "battery_wh": ev.profile.battery_wh,
                "soc_percent": round(ev.soc * 100, 3),
                "leaving": connector.leave_at_s is not None,
                "paused": None if connector.leave_at_s is not None else ev.pause_state,
            },
        }

    def meter_view(self, meter_id: str) -> dict[str, Any]:
        """One meter as it read at the last physics step (``stepped_at_s``): a poll of the grid
        without building the whole site's snapshot, which at 1,000 connectors held the
        simulator's loop ~20 ms a time while it answered the daemon's requests."""
        meter = self.meters.get(meter_id)
        if meter is None:
            raise SimError(f"no simulated meter {meter_id!r}")
        return _meter_view(meter) | {"stepped_at_s": self.model.last_s}

    def device_view(self, device_id: str, now_s: float, points: bool = True) -> dict[str, Any]:
        device = self.device(device_id)
        view: dict[str, Any] = {
            "profile": device.profile.name,
            "kind": device.profile.kind,
            "faults": [f.as_dict() for f in device.faults.active(now_s)],
            "last_write": _write_view(device.last_write),
            "last_writes": {
                f"{name}@{conn}" if conn else name: _write_view(rec)
                for (name, conn), rec in device.last_writes.items()
            },
            "requests": {f"fc{code:02d}": n for code, n in sorted(device.requests.items())},
        }
        if points:  # the snapshot leaves these out: read every 0.1 s by some tests
            view["points"] = device.point_values(now_s)
            view["writes"] = [_write_view(record) for record in device.writes]
        return view


def _write_view(record: WriteRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "point": record.point,
        "connector": record.connector,
        "value": record.value,
        "at_s": record.at_s,
    }


def _meter_view(device: MeterDevice) -> dict[str, Any]:
    meter = device.model
    return {
        "role": meter.role,
        "current_a": list(meter.current_a),
        "voltage_v": list(meter.voltage_v),
        "power_w": list(meter.power_w),
        "import_wh": meter.import_wh,
        "export_wh": meter.export_wh,
    }
