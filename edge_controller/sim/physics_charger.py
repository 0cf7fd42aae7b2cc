"""A charger's connectors: IEC 61851 state machine, offered current, watchdog, energy counters.

Pure model: every method takes the time as an argument. Register encoding lives elsewhere
(``devices.py``); this module only knows amperes, watt-hours and pilot states.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_controller.sim.physics_ev import MIN_OFFER_A, Ev, EvProfile

UNPLUG_AFTER_S = 2.0  # a leaving EV first stops charging (C→B), then is unplugged (B→A)


@dataclass(slots=True)
class ChargerHardware:
    """Hardware limits and the device's own fallback behaviour."""

    connectors: int = 1
    max_current_a: float = 32.0
    min_current_a: float = 6.0
    failsafe_current_a: float = 6.0
    watchdog_timeout_s: float = 15.0  # 0 disables the device watchdog
    startup_current_a: float = 0.0  # offered after power-up until the first setpoint write


@dataclass(slots=True)
class Connector:
    """One charging point: pilot state, the EV plugged into it, counters that only go up."""

    number: int
    state: str = "A"
    ev: Ev | None = None
    setpoint_a: float = 0.0  # last value written by the controller
    enabled: bool = True
    offered_a: float = 0.0  # what the PWM signal offers right now
    energy_wh: float = 0.0  # lifetime counter (monotonic)
    session_energy_wh: float = 0.0
    leave_at_s: float | None = None
    phases_limit: int = 3  # phase switching: the charger may close only one contactor
    wired_phases: int = 3  # a charger installed on one phase feeds only its L1

    @property
    def drawn_a(self) -> float:
        return self.ev.drawn_a if self.ev is not None and self.state == "C" else 0.0

    @property
    def ev_phases(self) -> int:
        if self.ev is None:
            return 0
        return min(self.ev.phases, self.phases_limit, self.wired_phases)

    def phase_currents_a(self) -> tuple[float, float, float]:
        """Current on the charger's own L1, L2, L3 terminals (before phase rotation)."""
        drawn = self.drawn_a
        phases = self.ev_phases
        return tuple(drawn if phases > i else 0.0 for i in range(3))  # type: ignore[return-value]


@dataclass(slots=True)
class ChargerModel:
    """A charger with one or more connectors and one Modbus watchdog."""

    config: ChargerHardware
    connectors: list[Connector] = field(default_factory=list)
    last_write_s: float | None = None
    failsafe_active: bool = False
    fault: bool = False  # state F: the charger refuses to charge

    def __post_init__(self) -> None:
        if not self.connectors:
            self.connectors = [Connector(n) for n in range(1, self.config.connectors + 1)]
        for connector in self.connectors:
            connector.setpoint_a = self.config.startup_current_a

    def connector(self, number: int) -> Connector:
        if not 1 <= number <= len(self.connectors):
            raise KeyError(f"no connector {number}")
        return self.connectors[number - 1]

    def write_setpoint(self, now_s: float, number: int, current_a: float) -> None:
        """A controller wrote a current limit; it also feeds the watchdog."""
        self.connector(number).setpoint_a = current_a
        self.feed_watchdog(now_s)

    def write_enabled(self, now_s: float, number: int, enabled: bool) -> None:
        self.connector(number).enabled = enabled
        self.feed_watchdog(now_s)

    def feed_watchdog(self, now_s: float) -> None:
        self.last_write_s = now_s
        self.failsafe_active = False

    def watchdog_expired(self, now_s: float) -> bool:
        timeout = self.config.watchdog_timeout_s
        if timeout <= 0 or self.last_write_s is None:
            return False
        return now_s - self.last_write_s > timeout

    def plug(self, now_s: float, number: int, profile: EvProfile) -> None:
        connector = self.connector(number)
        if connector.ev is not None:
            raise ValueError(f"connector {number} already has an EV plugged in")
        connector.ev = Ev(profile, now_s)
        connector.session_energy_wh = 0.0
        connector.leave_at_s = None
        connector.state = "B"

    def unplug(self, now_s: float, number: int) -> None:
        """The driver stops charging from the car first; the cable comes out shortly after."""
        connector = self.connector(number)
        if connector.ev is None:
            raise ValueError(f"connector {number} has no EV plugged in")
        connector.ev.pause()  # S2 opens: state B
        connector.leave_at_s = now_s + UNPLUG_AFTER_S

    def pause(self, number: int, keep_state_c: bool = False) -> None:
        """The plugged EV stops drawing on its own (timer, full battery), in state B or C."""
        ev = self._staying_ev(number)
        if ev.pause_state is not None:
            raise ValueError(f"the EV on connector {number} is already paused")
        ev.pause(keep_state_c)

    def resume(self, number: int) -> None:
        """The paused EV asks for current again and follows the offer after its delay."""
        ev = self._staying_ev(number)
        if ev.pause_state is None:
            raise ValueError(f"the EV on connector {number} is not paused")
        ev.resume()

    def _staying_ev(self, number: int) -> Ev:
        connector = self.connector(number)
        if connector.ev is None:
            raise ValueError(f"connector {number} has no EV plugged in")
        if connector.leave_at_s is not None:
            raise ValueError(f"the EV on connector {number} is leaving")
        return connector.ev

    def step(self, now_s: float, voltage_v: float) -> None:
        if self.watchdog_expired(now_s):
            self.failsafe_active = True
        for connector in self.connectors:
            self._step_connector(connector, now_s, voltage_v)

    def offer_a(self, connector: Connector) -> float:
        """The PWM offer: setpoint, or the failsafe current while the watchdog has expired."""
        if self.fault or not connector.enabled:
            return 0.0
        wanted = self.config.failsafe_current_a if self.failsafe_active else connector.setpoint_a
        offer = min(wanted, self.config.max_current_a)
        return offer if offer >= max(MIN_OFFER_A, self.config.min_current_a) else 0.0

    def _step_connector(self, connector: Connector, now_s: float, voltage_v: float) -> None:
        connector.offered_a = self.offer_a(connector)
        ev = connector.ev
        if ev is None:
            connector.state = "F" if self.fault else "A"
            return
        phases = min(connector.phases_limit, connector.wired_phases)
        energy_wh = ev.step(now_s, connector.offered_a, voltage_v, phases)
        connector.energy_wh += energy_wh
        connector.session_energy_wh += energy_wh
        if connector.leave_at_s is not None and now_s >= connector.leave_at_s:
            connector.ev = None
            connector.leave_at_s = None
            connector.state = "F" if self.fault else "A"
            return
        if self.fault:
            connector.state = "F"
        else:
            connector.state = "C" if ev.requests_charge(connector.offered_a) else "B"
