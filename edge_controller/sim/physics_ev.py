"""An electric vehicle on a charging cable: pure model, the clock is an argument.

The EV follows the current the charger offers (PWM duty cycle) with a delay, as IEC 61851-1
allows up to 5 s for the vehicle to react to a new offer: each change of the offer is followed
its delay after that change, whatever changes come after it (a second decrease within the
delay does not put off the first). It draws on 1, 2 or 3 of the charger's phases, never more
than its own on-board charger allows, and tapers near a full battery.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

MIN_OFFER_A = 6.0  # below this PWM duty cycle charging is not allowed (IEC 61851-1)
TAPER_FLOOR_A = 1.0  # an almost full battery still takes a trickle


@dataclass(frozen=True, slots=True)
class EvProfile:
    """What kind of vehicle is plugged in."""

    phases: int = 3
    max_current_a: float = 16.0
    battery_wh: float = 60_000.0
    soc: float = 0.5  # state of charge when plugged, 0..1
    target_soc: float = 1.0  # the EV stops requesting (state B) once reached
    taper_start_soc: float = 0.8  # above this the EV lowers its own current linearly
    response_delay_s: float = 2.0  # time to follow a new offer, 0..5 s
    # Drawn over the offer while it charges, as some vehicles do within their own tolerance.
    overdraw_a: float = 0.0

    def __post_init__(self) -> None:
        if self.phases not in (1, 2, 3):
            raise ValueError("phases must be 1, 2 or 3")
        if not 0 < self.max_current_a <= 80:
            raise ValueError("max_current_a must be in (0, 80]")
        if self.battery_wh <= 0:
            raise ValueError("battery_wh must be positive")
        if not 0 <= self.soc <= 1 or not 0 < self.target_soc <= 1:
            raise ValueError("soc must be in [0, 1] and target_soc in (0, 1]")
        if not 0 < self.taper_start_soc <= 1:
            raise ValueError("taper_start_soc must be in (0, 1]")
        if not 0 <= self.response_delay_s <= 5:
            raise ValueError("response_delay_s must be in [0, 5] (IEC 61851-1)")
        if not 0 <= self.overdraw_a <= 5:
            raise ValueError("overdraw_a must be in [0, 5]")


def taper_limit_a(profile: EvProfile, soc: float) -> float:
    """The most the battery accepts at ``soc``: full current below the taper knee, then linear."""
    if soc >= profile.target_soc:
        return 0.0
    if soc <= profile.taper_start_soc or profile.taper_start_soc >= 1:
        return profile.max_current_a
    fraction = (1.0 - soc) / (1.0 - profile.taper_start_soc)
    return max(TAPER_FLOOR_A, profile.max_current_a * fraction)


class Ev:
    """One vehicle's state of charge and current draw, advanced by :meth:`step`."""

    def __init__(self, profile: EvProfile, now_s: float) -> None:
        self.profile = profile
        self.soc = profile.soc
        self.energy_wh = 0.0  # delivered to this EV since it plugged in
        self.drawn_a = 0.0  # per used phase
        self.paused = False  # the vehicle itself does not want to charge (e.g. timer): state B
        # The vehicle keeps asking (S2 closed, state C) but its on-board charger draws nothing,
        # as some do on a timer or with a full battery.
        self.idle_in_c = False
        self._last_s = now_s
        self._applied_offer_a = 0.0  # the offer the EV has reacted to so far
        # The changes not followed yet, oldest first: (when it changed, the new offer). At most
        # one per step within the delay: bounded by how often the EV is stepped.
        self._pending: deque[tuple[float, float]] = deque()
        self._last_offer_a = 0.0

    @property
    def phases(self) -> int:
        return self.profile.phases

    @property
    def wants_charge(self) -> bool:
        """Whether the EV closes S2 (state C) given an allowed offer."""
        return not self.paused and self.soc < self.profile.target_soc

    def requests_charge(self, offered_a: float) -> bool:
        """State C: the EV wants energy and the charger allows it."""
        return self.wants_charge and offered_a >= MIN_OFFER_A

    def step(self, now_s: float, offered_a: float, voltage_v: float, phases: int = 3) -> float:
        """Advance to ``now_s``; return the energy (Wh) delivered since the previous step.

        ``phases`` is how many phases the charger connects (phase switching); the EV uses the
        smaller of that and its own phase count.
        """
        dt_s = max(0.0, now_s - self._last_s)
        self._last_s = now_s
        used_phases = min(self.phases, phases)
        energy_wh = self.drawn_a * used_phases * voltage_v * dt_s / 3600.0
        self.energy_wh += energy_wh
        self.soc = min(1.0, self.soc + energy_wh / self.profile.battery_wh)
        drawing = self.requests_charge(offered_a) and not self.idle_in_c
        self._follow(now_s, offered_a if drawing else 0.0)
        self.drawn_a = self._draw_a()
        return energy_wh

    def pause(self, keep_state_c: bool = False) -> None:
        """The vehicle stops drawing on its own: it opens S2 (state B) or, ``keep_state_c``,
        keeps asking and draws nothing. Either way it follows the offer again only its
        response delay after :meth:`resume`, as after any new offer."""
        self.paused, self.idle_in_c = not keep_state_c, keep_state_c

    def resume(self) -> None:
        self.paused = self.idle_in_c = False

    @property
    def pause_state(self) -> str | None:
        """The pilot state the vehicle shows while it pauses itself: "B", "C" or None."""
        if self.paused:
            return "B"
        return "C" if self.idle_in_c else None

    def _follow(self, now_s: float, offer_a: float) -> None:
        if offer_a != self._last_offer_a:
            self._last_offer_a = offer_a
            self._pending.append((now_s, offer_a))
        if offer_a == 0.0:  # S2 opens at once when charging is not allowed
            self._pending.clear()
            self._applied_offer_a = 0.0
            return
        pending, delay_s = self._pending, self.profile.response_delay_s
        while pending and now_s - pending[0][0] >= delay_s:
            self._applied_offer_a = pending.popleft()[1]

    def _draw_a(self) -> float:
        if self._applied_offer_a < MIN_OFFER_A:
            return 0.0
        drawn_a = min(self._applied_offer_a, taper_limit_a(self.profile, self.soc))
        return drawn_a + self.profile.overdraw_a if drawn_a > 0 else 0.0
