"""The site loop against the simulator's physics, on a virtual clock.

``SiteController`` runs unchanged; its ports read and write the simulator's own models
(``edge_controller.sim``: EVs that follow an offer after their response delay, chargers with
their pilot states, the site summing the building and every charger on the grid phases).
What a real bus adds is modelled as it happens on the demo site: a grid reading is one block
(one moment), a charger's status and its three currents are read one register after another,
so each value is captured at its own moment inside the read (a KEBA reads every register on
its own: a reading taken while the EV ramps is torn, e.g. ``[9.0, 0.0, 0.0]``).

The rig steps the physics every ``DT_S``, polls every device on its own schedule, and lets the
controller decide after each grid reading and on its tick, as the running loop does.

After every physics step it checks that our own draw on each grid phase fits beside the
building, forgiving only what a step up of the building causes before the loop can answer it
(``BuildingStep``): within ``BUILDING_STEP_WINDOW_S`` of the step, our draw as it was when the
building stepped, and what each connector draws until its EV could have followed the first
decision that knew of the step (the first grid reading at or after it, then the EV's response
delay): an EV resuming, or following an offer raised before, in that time ramps whatever the
loop does. Our draw above that while the building is up is ours and is recorded.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from edge_controller.domain.balancing import Feeder, Policy, Site, wiring_from_rotation
from edge_controller.domain.model import ChargerStatus, CpState, MeterReading, Phases3
from edge_controller.services.control.site_controller import (
    Clocks,
    ConnectorSetup,
    LoopTiming,
    SiteController,
)
from edge_controller.sim.physics_charger import ChargerHardware, ChargerModel
from edge_controller.sim.physics_ev import EvProfile
from edge_controller.sim.physics_site import ChargerWiring, SiteModel

DT_S = 0.05
READ_S = 0.3  # a charger's read: status and currents, one register after another
POLL_S = 1.0
TICK_S = 1.0
VOLTAGE_V = 230.0
MAX_RESPONSE_S = 5.0  # IEC 61851-1: an EV follows a lower offer within 5 s
# After the building load steps up, the overshoot it causes lasts until a grid reading shows it
# (one poll), the loop lowers the offers (its next step: at once, or one tick) and the EVs follow
# (their response delay, at most 5 s); the rest is one physics step of rounding in time. No step
# is forgiven longer than this.
BUILDING_STEP_WINDOW_S = POLL_S + TICK_S + MAX_RESPONSE_S + 2 * DT_S


@dataclass
class Clock:
    now_s: float = 0.0

    def __call__(self) -> float:
        return self.now_s


@dataclass(frozen=True)
class EvPlan:
    """One connector (its own single-connector charger) and the EV plugged into it."""

    connector_id: str
    rotation: str  # "L1L2L3", "L2L3L1", ... or "L1"/"L2"/"L3" for a single-phase charger
    ev_phases: int
    response_delay_s: float
    max_current_a: float = 32.0
    feeder: str | None = None
    pauses: tuple[tuple[float, float], ...] = ()  # the EV stops asking (start, end)
    pause_state: str = "B"  # while paused: "B" (it opens S2) or "C" (it asks, draws nothing)
    plug_at_s: float = 0.0
    # Capture moments inside a read, as fractions of READ_S: status, then L1, L2, L3.
    capture: tuple[float, float, float, float] = (0.0, 1 / 3, 2 / 3, 1.0)
    poll_offset_s: float = 0.0
    # How often its charger is read: under load a charger's reads fall behind the grid
    # meter's (each waits in the bus queue behind the others).
    poll_s: float = POLL_S
    overdraw_a: float = 0.0  # the EV draws this much over its offer while it charges


@dataclass(frozen=True)
class SitePlan:
    grid_limit_a: float
    evs: tuple[EvPlan, ...]
    building_a: tuple[tuple[float, Phases3], ...]  # (from, per grid phase), sorted by time
    duration_s: float = 60.0
    feeders: tuple[Feeder, ...] = ()
    grid_poll_offset_s: float = 0.0
    policy: Policy = field(default_factory=Policy)


@dataclass(frozen=True)
class Sample:
    """What the connector was at one physics step: pilot state, offer and terminal currents."""

    at_s: float
    state: str
    offered_a: float
    current_a: Phases3


class PhysicsCharger:
    """Charger + BuiltInMeter + DeviceWatchdog ports over one simulated charger."""

    def __init__(self, plan: EvPlan, model: ChargerModel, clock: Clock) -> None:
        self.plan, self.model, self._clock = plan, model, clock
        self.history: deque[Sample] = deque(maxlen=int(4 * READ_S / DT_S) + 4)
        self.failsafe: list[tuple[float, float]] = []
        self.read_started_s = 0.0

    def record(self, now_s: float) -> None:
        connector = self.model.connector(1)
        self.history.append(
            Sample(now_s, connector.state, connector.offered_a, connector.phase_currents_a())
        )

    def _at(self, moment_s: float) -> Sample:
        found = self.history[0]
        for sample in self.history:
            if sample.at_s <= moment_s + 1e-9:
                found = sample
        return found

    def _moment(self, part: int) -> float:
        return self.read_started_s + self.plan.capture[part] * READ_S

    async def read_status(self) -> ChargerStatus:
        sample = self._at(self._moment(0))
        return ChargerStatus(CpState(sample.state), True, sample.offered_a, at_s=self._clock())

    async def read_meter(self) -> MeterReading:
        currents = tuple(self._at(self._moment(1 + phase)).current_a[phase] for phase in range(3))
        a, b, c = currents
        self._clock.now_s = self.read_started_s + READ_S  # the read ends after its last register
        power = (a * VOLTAGE_V, b * VOLTAGE_V, c * VOLTAGE_V)
        energy_wh = self.model.connector(1).energy_wh
        return MeterReading(
            (VOLTAGE_V,) * 3, (a, b, c), power, sum(power), energy_wh, 0.0, self._clock()
        )

    async def set_current(self, current_a: float) -> None:
        self.model.write_setpoint(self._clock(), 1, current_a)

    async def set_enabled(self, enabled: bool) -> None:
        self.model.write_enabled(self._clock(), 1, enabled)

    async def program_failsafe(self, current_a: float, timeout_s: float) -> None:
        self.failsafe.append((current_a, timeout_s))
        self.model.config.failsafe_current_a = current_a
        self.model.config.watchdog_timeout_s = timeout_s


class PhysicsGridMeter:
    def __init__(self, site: SiteModel) -> None:
        self._site = site

    async def read(self) -> MeterReading:
        amps = self._site.meters["grid"].current_a
        power = (amps[0] * VOLTAGE_V, amps[1] * VOLTAGE_V, amps[2] * VOLTAGE_V)
        return MeterReading((VOLTAGE_V,) * 3, amps, power, sum(power), 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Excess:
    at_s: float
    where: str
    ours_a: float
    allowed_a: float


@dataclass
class BuildingStep:
    """A step up of the building load at ``at_s`` and what it forgives.

    The loop learns of the step from the first grid reading at or after it (``seen_s``), and an
    EV follows what the loop decides then only its response delay later. Until that moment a
    connector's draw owes nothing to a decision that knew of the step: an EV that resumes, or
    follows an offer raised before, ramps as it would under any loop (only pausing every EV at
    once on every rise would stop it). So the step forgives, per connector and grid phase, the
    most the connector drew from the step until its EV could have followed the first decision
    that knew of it, and from then on what it drew at the step: above that, while the building
    is over its level before the step, the draw is ours (a decision that fits the limit needs no
    forgiving once its EVs followed it). The forgiveness ends ``BUILDING_STEP_WINDOW_S`` after
    the step.
    """

    at_s: float
    seen_s: float | None = None
    most_a: dict[str, list[float]] = field(default_factory=dict)  # while blind to the step
    at_step_a: dict[str, Phases3] = field(default_factory=dict)
    forgiven_by: dict[str, Phases3] = field(default_factory=dict)  # as of the latest follow

    def follow(
        self, now_s: float, drawn_by: dict[str, Phases3], delays_s: dict[str, float]
    ) -> None:
        """Take in every connector's draw at ``now_s`` while it is still blind to the step."""
        for cid, drawn in drawn_by.items():
            self.at_step_a.setdefault(cid, drawn)
            most = self.most_a.setdefault(cid, [0.0, 0.0, 0.0])
            # A decision at seen_s reaches the EV's next physics step and is followed its
            # delay after that: every draw up to seen_s + delay is the same whatever it was.
            if self.seen_s is not None and now_s > self.seen_s + delays_s[cid] + DT_S / 2:
                self.forgiven_by[cid] = self.at_step_a[cid]
                continue
            for phase in range(3):
                most[phase] = max(most[phase], drawn[phase])
            self.forgiven_by[cid] = (most[0], most[1], most[2])

    def forgiven_a(self) -> Phases3:
        """Per grid phase, the sum over connectors of the most each may draw now."""
        total = [0.0, 0.0, 0.0]
        for amps in self.forgiven_by.values():
            for phase in range(3):
                total[phase] += amps[phase]
        return total[0], total[1], total[2]


@dataclass
class Outcome:
    excess: list[Excess] = field(default_factory=list)
    excess_as: float = 0.0  # the excesses in A*s, on the worst phase or feeder of each step
    grid_a: list[tuple[float, float]] = field(default_factory=list)  # (time, highest phase)
    reasons: list[str] = field(default_factory=list)
    # Every change of the offers: (time, offer per connector), the first decision included.
    offers: list[tuple[float, dict[str, float]]] = field(default_factory=list)

    def over_limit_as(self, limit_a: float) -> float:
        """The grid's highest phase above ``limit_a``, in A*s, whoever caused it."""
        return sum(max(0.0, a - limit_a) for _, a in self.grid_a) * DT_S


class PhysicsRig:
    def __init__(self, plan: SitePlan, *, setup: Callable[..., ConnectorSetup] = ConnectorSetup):
        from edge_controller.sim.physics_site import MeterModel

        self.plan = plan
        self.clock = Clock()
        self.site = SiteModel(voltage_v=VOLTAGE_V, base_override_a=plan.building_a[0][1])
        self.chargers: dict[str, PhysicsCharger] = {}
        for ev in plan.evs:
            config = ChargerHardware(connectors=1, max_current_a=ev.max_current_a)
            model = ChargerModel(config)
            model.connector(1).wired_phases = len(wiring_from_rotation(ev.rotation))
            self.site.chargers[ev.connector_id] = ChargerWiring(model, ev.rotation, ev.feeder)
            self.chargers[ev.connector_id] = PhysicsCharger(ev, model, self.clock)
        self.site.meters["grid"] = MeterModel("grid", list(self.site.chargers))
        setups = [
            setup(
                ev.connector_id,
                self.chargers[ev.connector_id],
                wiring=wiring_from_rotation(ev.rotation),
                feeder=ev.feeder,
                max_current_a=ev.max_current_a,
                poll_interval_s=POLL_S,
            )
            for ev in plan.evs
        ]
        site = Site(grid_limit_a=plan.grid_limit_a, feeders=plan.feeders)
        timing = LoopTiming(tick_s=TICK_S, grid_poll_interval_s=POLL_S)
        self.controller = SiteController(
            "physics",
            site,
            setups,
            PhysicsGridMeter(self.site),
            policy=plan.policy,
            timing=timing,
            clocks=Clocks(self.clock),
        )
        self._building: deque[tuple[float, Phases3]] = deque()
        self._steps: deque[BuildingStep] = deque()
        self._delays_s = {ev.connector_id: ev.response_delay_s for ev in plan.evs}
        self._last_step_s = -TICK_S

    def run(self) -> Outcome:
        return asyncio.run(self._run())

    async def _run(self) -> Outcome:
        outcome = Outcome()
        ticks = round(self.plan.duration_s / DT_S)
        for tick in range(1, ticks + 1):
            now_s = tick * DT_S
            self.clock.now_s = now_s
            self._events(now_s)
            self.site.step(now_s)
            for charger in self.chargers.values():
                charger.record(now_s)
            self._check(now_s, outcome)
            await self._poll_and_decide(now_s, outcome)
        for conn in self.controller.snapshot().connectors:
            outcome.reasons.append(conn.limit_reason)
        return outcome

    def _events(self, now_s: float) -> None:
        for at_s, building in self.plan.building_a:
            if abs(at_s - now_s) < DT_S / 2:
                self.site.base_override_a = building
        for ev in self.plan.evs:
            connector = self.chargers[ev.connector_id].model.connector(1)
            if abs(ev.plug_at_s + DT_S - now_s) < DT_S / 2:
                profile = EvProfile(
                    phases=ev.ev_phases,
                    max_current_a=ev.max_current_a,
                    battery_wh=500_000.0,
                    soc=0.2,
                    response_delay_s=ev.response_delay_s,
                    overdraw_a=ev.overdraw_a,
                )
                self.site.chargers[ev.connector_id].model.plug(now_s, 1, profile)
            if connector.ev is None:
                continue
            pausing = any(start <= now_s < end for start, end in ev.pauses)
            if pausing and connector.ev.pause_state is None:
                connector.ev.pause(keep_state_c=ev.pause_state == "C")
            elif not pausing and connector.ev.pause_state is not None:
                connector.ev.resume()

    def _due(self, now_s: float, offset_s: float, every_s: float = POLL_S) -> bool:
        phase = (now_s - offset_s) % every_s
        return phase < DT_S / 2 or every_s - phase < DT_S / 2

    async def _poll_and_decide(self, now_s: float, outcome: Outcome) -> None:
        controller = self.controller
        for ev in self.plan.evs:
            if now_s >= READ_S and self._due(now_s, ev.poll_offset_s, ev.poll_s):
                charger = self.chargers[ev.connector_id]
                charger.read_started_s = now_s - READ_S
                conn = controller._conns[ev.connector_id]
                self.clock.now_s = now_s
                await conn.status.poll_once()
                self.clock.now_s = charger.read_started_s
                assert conn.meter is not None
                await conn.meter.poll_once()
                self.clock.now_s = now_s
        woke = False
        if self._due(now_s, self.plan.grid_poll_offset_s):
            assert controller._grid is not None
            await controller._grid.poll_once()
            self._grid_read(now_s)
            woke = True
        if woke or now_s - self._last_step_s >= TICK_S - DT_S / 2:
            self._last_step_s = now_s
            decided = await controller.step()
            if decided is not None:
                offers = {cid: entry.current_a for cid, entry in decided.connectors.items()}
                if not outcome.offers or outcome.offers[-1][1] != offers:
                    outcome.offers.append((now_s, offers))

    def _check(self, now_s: float, outcome: Outcome) -> None:
        """Our own draw on every grid phase fits beside the building, but for what a step up of
        the building forgives (``BuildingStep``); a feeder carries nothing else, so our draw on
        it always fits. Each excess is recorded, and its A*s on the worst phase summed."""
        building = self.site.base_current_a(now_s)
        if self._building and any(
            a > b for a, b in zip(building, self._building[-1][1], strict=True)
        ):
            self._steps.append(BuildingStep(now_s))
        self._building.append((now_s, building))
        while self._building[0][0] < now_s - BUILDING_STEP_WINDOW_S:
            self._building.popleft()
        while self._steps and self._steps[0].at_s < now_s - BUILDING_STEP_WINDOW_S:
            self._steps.popleft()
        ours = [0.0, 0.0, 0.0]
        feeders: dict[str, list[float]] = {}
        drawn_by: dict[str, Phases3] = {}
        for cid, wiring in self.site.chargers.items():
            drawn = drawn_by[cid] = self.site.charger_grid_a(cid)
            for phase in range(3):
                ours[phase] += drawn[phase]
            if wiring.feeder is not None:
                row = feeders.setdefault(wiring.feeder, [0.0, 0.0, 0.0])
                for phase in range(3):
                    row[phase] += drawn[phase]
        forgiven = [0.0, 0.0, 0.0]
        for step in self._steps:
            step.follow(now_s, drawn_by, self._delays_s)
            for phase, amps in enumerate(step.forgiven_a()):
                forgiven[phase] = max(forgiven[phase], amps)
        grid = self.site.meters["grid"].current_a
        outcome.grid_a.append((now_s, max(grid)))
        limit_a = self.plan.grid_limit_a
        worst_a = 0.0
        for phase in range(3):
            lowest = min(b[phase] for _, b in self._building)
            # Never more than the building's lowest in the window leaves (as before a step).
            forgivable = min(max(0.0, limit_a - lowest), forgiven[phase])
            allowed = max(0.0, limit_a - building[phase], forgivable)
            if ours[phase] > allowed + 1e-6:
                outcome.excess.append(Excess(now_s, f"grid L{phase + 1}", ours[phase], allowed))
                worst_a = max(worst_a, ours[phase] - allowed)
        limits = {f.id: f.limit_a for f in self.plan.feeders}
        for feeder, row in feeders.items():
            for phase in range(3):
                if row[phase] > limits[feeder] + 1e-6:
                    what = f"feeder {feeder} L{phase + 1}"
                    outcome.excess.append(Excess(now_s, what, row[phase], limits[feeder]))
                    worst_a = max(worst_a, row[phase] - limits[feeder])
        outcome.excess_as += worst_a * DT_S

    def _grid_read(self, now_s: float) -> None:
        """A grid reading shows every building step before it: from now on the loop knows."""
        for step in self._steps:
            if step.seen_s is None:
                step.seen_s = now_s
