"""The site control loop: readings in, ``allocate()``, changed setpoints out, views published.

Runs on every new grid reading and on a tick. Fail-safe chain: a stale grid reading → fallback
budget (in the allocation); a charger that does not answer → assumed at its maximum; every
charger's own watchdog is programmed so it falls back if this process dies, to its safe current
while a session is authorised and to 0 A otherwise (free vend: always the safe current);
``shutdown()`` sets every charger likewise. Decreases are written before increases.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from edge_controller.domain.balancing import (
    Allocation,
    ConnectorAllocation,
    ConnectorDemand,
    DemandState,
    GridReading,
    OfferRecords,
    Policy,
    Site,
    allocate,
    failsafe_problems,
)
from edge_controller.domain.balancing.budget import building_load
from edge_controller.domain.balancing.caution import (
    METER_ROUNDING_A,
    DecreaseHold,
    bracketed,
    draw_around,
    explained,
    hold_unconfirmed_decreases,
    hold_unconfirmed_increases,
    lowers,
    most_drawn,
    ramp_unseen,
    rises,
    unraised_rise,
    within_limits,
)
from edge_controller.domain.balancing.readings import Sample
from edge_controller.domain.commands import (
    Origin,
    SetConnectorEnabled,
    SetConnectorLimit,
    SetSiteLimit,
)
from edge_controller.domain.latency import Histogram
from edge_controller.domain.model import ChargerStatus, Limit, MeterReading, Phases3
from edge_controller.domain.snapshot import ChildView, GatewayFault, SiteView
from edge_controller.log import get_logger
from edge_controller.ports import DeviceError, Meter
from edge_controller.services.control.connector import (
    HISTORY_READINGS,
    IDLE_DRAW_A,
    ConnectorRuntime,
    ConnectorSetup,
    LoopTiming,
    program_failsafes,
    remember,
)
from edge_controller.services.control.poller import Poller
from edge_controller.services.control.reaction import CollectionHold, OverloadReaction, ReadHold
from edge_controller.services.control.views import (
    connector_views,
    grid_fields,
    known,
)

if TYPE_CHECKING:  # a child gateway's budget: the several-gateway code comes with the role
    from edge_controller.domain.gateways import EffectiveBudget

BalancingCommand = SetSiteLimit | SetConnectorLimit | SetConnectorEnabled
__all__ = [
    "BalancingCommand",
    "Clocks",
    "ConnectorSetup",
    "LoopHooks",
    "LoopTiming",
    "SiteController",
]


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class LoopHooks:
    """Who hears from the loop: ``on_tick`` after every step (the service watchdog);
    ``on_status`` every fresh charger status (sessions follow the plug state). Neither may
    block: the control path never waits on a consumer."""

    on_tick: Callable[[], None] = _nothing
    on_status: Callable[[str, ChargerStatus], None] | None = None


@dataclass(frozen=True, slots=True)
class Clocks:
    """``monotonic`` runs the loop; ``wall`` only stamps the published views."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time


class SiteController:
    def __init__(
        self,
        site_id: str,
        site: Site,
        connectors: Sequence[ConnectorSetup],
        grid_meter: Meter | None,
        *,
        policy: Policy | None = None,
        timing: LoopTiming | None = None,
        hooks: LoopHooks = LoopHooks(),
        clocks: Clocks = Clocks(),
    ) -> None:
        self.site_id, self._site = site_id, site
        self._policy = policy or Policy()
        self._offer_records = OfferRecords()  # every decision's working records, reused
        self._timing = timing or LoopTiming()
        clock, wall_clock = clocks.monotonic, clocks.wall
        self._tick_callback, self._clock, self._wall_clock = hooks.on_tick, clock, wall_clock
        self._log = get_logger("site_controller", site=site_id)
        self._wake = asyncio.Event()
        # Cleared from a grid reading over a limit until its lowered setpoints are written
        # (``ReadHold``): the chargers' reads (two a connector a second) wait, so the writes
        # find their links free and the event loop carries them alone.
        self._reads_open = asyncio.Event()
        self._reads_open.set()
        # A status must not go stale while its reads wait for an answer that does not come.
        self._reads = ReadHold(
            self._reads_open, min(self._timing.io_timeout_s, self._timing.charger_stale_s / 2)
        )
        self._conns = {
            s.connector_id: ConnectorRuntime(
                s, self._timing, clock, hooks.on_status, gate=self._reads_open
            )
            for s in connectors
        }
        self._grid: Poller[MeterReading] | None = None
        # One for the site, so its readings stay objects: ``bracketed`` gives back the one it
        # pairs (the connectors' are ``RecentReadings``, 1,000 of them).
        self._grid_history: deque[Sample] = deque(maxlen=HISTORY_READINGS)
        if grid_meter is not None:
            self._grid = Poller(
                "grid",
                grid_meter.read,
                interval_s=self._timing.grid_poll_interval_s,
                timeout_s=self._timing.io_timeout_s,
                max_age_s=self._policy.stale_after_s,
                clock=clock,
                on_update=self._grid_read,
            )
        self._site_cap: Limit | None = None
        self._csms_site_cap: Limit | None = None  # ChargePointMaxProfile of a site-wide identity
        self._budget: EffectiveBudget | None = None  # a child gateway's budget from its parent
        self._gateway_faults: tuple[GatewayFault, ...] = ()  # shown in the views
        self._gateway_children: tuple[ChildView, ...] = ()
        self._demands: list[ConnectorDemand] = []
        self._hold = DecreaseHold(self._timing.measurement_window_s)
        self._held_on: GridReading | None = None  # the grid reading a held decrease began on
        self._draws_at_s: float | None = None
        self._allocation: Allocation | None = None
        self._write_lock = asyncio.Lock()
        # Set by a grid reading over a limit: the step under way drops its increases (never the
        # values its watchdogs must hear) so that a fresh step answers the reading at once.
        self._overloaded = asyncio.Event()
        self._stopping = False
        self._written_at_s: dict[str, float] = {}  # last accepted write, to feed the watchdogs
        self._reaction = OverloadReaction(clock, self._log)
        # An answer slower than a few writes' timeouts is not helped by holding any longer.
        self._collections = CollectionHold(3 * self._timing.io_timeout_s)
        self._steps_begun = 0
        self._held_since_step = 0  # steps begun when the holds began: the next one answers
        self._view = SiteView(
            site_id,
            None,
            site.grid_limit_a,
            None,
            None,
            at_s=wall_clock(),
            waiting_for=self._unread(),
        )
        self._view_event = asyncio.Event()
        self._published_at_s = float("-inf")  # the step the published view is of (monotonic)
        self.failsafe_problems = self._check_failsafe()

    # --- inputs -------------------------------------------------------------------------------

    async def apply(self, command: BalancingCommand) -> None:
        """Apply an operator command; a bad one raises ValueError and changes nothing."""
        match command:
            case SetSiteLimit():
                self._site_cap = _limit(command.current_a, command.origin, "site limit")
            case SetConnectorLimit():
                limit = _limit(command.current_a, command.origin, "limit")
                self._conn(command.connector_id).operator = limit
            case SetConnectorEnabled():
                self._conn(command.connector_id).enabled = command.enabled
            case _:
                raise ValueError(f"not a balancing command: {command!r}")
        self._log.info("command applied", command=repr(command))
        self._wake.set()

    def set_external_limits(self, connector_id: str, limits: Sequence[Limit]) -> None:
        """Replace the limits an external party (the CSMS) puts on one connector."""
        conn = self._conn(connector_id)
        if any(limit.current_a < 0 for limit in limits):
            raise ValueError(f"{connector_id}: negative limit in {limits}")
        conn.external = tuple(limits)
        self._wake.set()

    def set_site_cap(self, limit: Limit | None) -> None:
        """A cap on the whole site from the CSMS; it combines with the operator's cap (the lower
        one binds)."""
        self._csms_site_cap = limit
        self._wake.set()

    def grid_cap(self) -> Limit | None:
        """The cap on the grid limit in force: the lower of the operator's and the CSMS's (a
        parent gateway's budgets for its children keep to it too)."""
        caps = [c for c in (self._site_cap, self._csms_site_cap) if c is not None]
        return min(caps, key=lambda c: c.current_a) if caps else None

    def set_budget(self, budget: EffectiveBudget) -> None:
        """A child gateway's budget from its parent (or its safe budget): a cap on the site
        per phase (and on its power), through the same path as the other site caps."""
        if budget != self._budget:
            self._budget = budget
            self._wake.set()

    def set_gateway_faults(self, faults: tuple[GatewayFault, ...]) -> None:
        """What is wrong between this gateway and the others (shown from the next step on)."""
        self._gateway_faults = faults

    def set_gateway_children(self, children: tuple[ChildView, ...]) -> None:
        """A parent's children as it sees them (shown from the next step on)."""
        self._gateway_children = children

    @property
    def demands(self) -> list[ConnectorDemand]:
        """Every connector's demand as of the latest decision (what a child reports)."""
        return self._demands

    def draw_taken_at_s(self) -> float | None:
        """When the oldest of the meter readings in ``demands`` was taken (the loop's
        monotonic clock): what a child's reported draw is as of; None without readings."""
        return self._draws_at_s

    def _oldest_reading_s(self) -> float | None:
        taken = [
            conn.meter.latest_at_s
            for conn in self._conns.values()
            if conn.meter is not None
            and not conn.meter_idle  # its draw is not a reading: it counts as the building's
            and conn.meter.latest_at_s is not None
            and conn.meter.fresh() is not None
        ]
        return min(taken, default=None)

    def grid_reading(self) -> GridReading | None:
        """The latest grid reading, ``at_s`` on the loop's monotonic clock."""
        return self._grid_reading()

    def latest_meter(self, connector_id: str) -> MeterReading | None:
        """The connector's latest fresh built-in meter reading, if it has one."""
        conn = self._conn(connector_id)
        return conn.meter.fresh() if conn.meter is not None else None

    def authorize_charging(self, connector_id: str, allowed: bool) -> None:
        """The session gate: offer current only while a session is authorised."""
        conn = self._conn(connector_id)
        if conn.authorized != allowed:
            conn.authorized = allowed
            self._wake.set()

    def _conn(self, connector_id: str) -> ConnectorRuntime:
        try:
            return self._conns[connector_id]
        except KeyError:
            raise ValueError(f"unknown connector {connector_id!r}") from None

    # --- outputs ------------------------------------------------------------------------------

    def snapshot(self) -> SiteView:
        return self._view

    async def next_snapshot(self) -> SiteView:
        """Wait for the next published snapshot (a slow reader simply gets the latest one)."""
        await self._view_event.wait()
        return self._view

    @property
    def reactions(self) -> Histogram:
        """Every overload reaction timed since the start (``services.control.reaction``)."""
        return self._reaction.histogram

    @property
    def allocation(self) -> Allocation | None:
        return self._allocation

    # --- the loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            self._collections.release()
            self._reads.release()

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            if self._grid is not None:
                group.create_task(self._grid.run())
            for conn in self._conns.values():
                group.create_task(conn.status.run())
                if conn.meter is not None and not conn.meter.carried:
                    group.create_task(conn.meter.run())
            group.create_task(self._loop())

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            await self.step()
            self._tick_callback()
            try:
                async with asyncio.timeout(self._timing.tick_s):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def step(self) -> Allocation | None:
        """One iteration: decide, write what changed, program watchdogs, publish."""
        try:
            return await self._step()
        finally:
            self._release_holds()  # whatever became of the step (its writes failed)

    async def _step(self) -> Allocation | None:
        async with self._write_lock:
            if self._stopping:
                return self._allocation
            self._steps_begun += 1
            self._overloaded.clear()  # this step decides on the latest grid reading
            now_s = self._clock()
            demands = self._marked([conn.demand(now_s) for conn in self._conns.values()], now_s)
            self._demands, self._draws_at_s = demands, self._oldest_reading_s()
            unread = self._unread()  # as of these demands: only what was read is published
            # Timed against the connection itself: the fuse, not a cap below it.
            overload_at_s = self._reaction.begin(self._grid_reading(), self._site.grid_limit_a)
            alloc = self._decide(demands, now_s)
            self._allocation = alloc
            # A watchdog's fallback goes down before the setpoints, up after them: a session
            # that ended never charges on its fallback, one that starts has its own already.
            await self._program_failsafes(lowering=True)
            await self._write(alloc, demands, now_s, overload_at_s)
            if not self._overloaded.is_set():  # else the fresh step does it
                await self._program_failsafes(lowering=False)
            elif now_s - self._published_at_s < self._timing.tick_s:
                return alloc  # the fresh step publishes, at once: the views wait for it
        self._publish(now_s, demands, alloc, unread)
        return alloc

    def _decide(self, demands: list[ConnectorDemand], now_s: float) -> Allocation:
        site, grid, previous = self._effective_site(), self._grid_reading(), self._allocation
        policy, records = self._policy, self._offer_records
        alloc = allocate(
            site, demands, grid=grid, previous=previous, now_s=now_s, policy=policy, records=records
        )
        held_on, self._held_on = self._held_on, None
        if grid is None:
            return alloc
        # Decreases are held only where nothing rises (``hold_unconfirmed_decreases``): a step
        # that raises too need not allocate to confirm them, and holding adds no rise.
        raises = rises(alloc, previous)
        if not raises and lowers(alloc, previous):
            found = self._pairing(demands, now_s, highest=True)
            paired_s = None if found is None else found[0].at_s
            if (
                held_on is not None
                and previous is not None
                and self._ramped_since(held_on, grid, paired_s, demands, previous)
            ):
                held_on = None  # settled by the readings around it: ``grid`` is bet on afresh
            if (
                found is not None
                and previous is not None
                and self._hold.allows(
                    grid,
                    site,
                    now_s,
                    held_on,
                    paired_s,
                    unraised_a=self._unraised(
                        demands,
                        previous,
                        held_on or grid,
                        now_s,
                        idle_raised=held_on is not None and held_on.at_s != grid.at_s,
                        building_a=alloc.building_load_a,
                    ),
                )
                and self._explained(grid, demands, previous, now_s)
            ):
                confirmed = self._confirm_decreases(alloc, site, found, now_s)
                if confirmed is not alloc:
                    self._held_on = grid if held_on is None else held_on
                    self._read_again(alloc, confirmed, now_s)
                alloc = confirmed
        if not raises:
            return alloc
        paired_grid, cautious = self._paired(demands, grid, now_s)
        safer = allocate(
            site,
            cautious,
            grid=paired_grid,
            previous=previous,
            now_s=now_s,
            policy=policy,
            records=records,
        )
        return hold_unconfirmed_increases(alloc, safer, previous)

    def _confirm_decreases(
        self,
        alloc: Allocation,
        site: Site,
        found: tuple[GridReading, list[ConnectorDemand]],
        now_s: float,
    ) -> Allocation:
        """``alloc`` with the decreases the paired readings (``found``, the highest draws) do
        not show held (the caller checks that they may wait; see
        ``domain.balancing.caution``)."""
        paired_grid, paired = found
        confirming = allocate(
            site,
            paired,
            grid=paired_grid,
            previous=self._allocation,
            now_s=now_s,
            policy=self._policy,
            records=self._offer_records,
        )
        return hold_unconfirmed_decreases(alloc, confirming, self._allocation)

    def _read_again(self, decided: Allocation, held: Allocation, now_s: float) -> None:
        """Read at once the meters a held decrease waits on: those of the connectors it holds
        and of those raised within the time EVs take to follow (a ramp read late is what makes
        building load appear). The next step then decides on readings taken after the grid
        reading it held on, rather than on readings up to a poll interval older."""
        since_s = now_s - self._policy.decrease_settle_s - self._policy.signal_delay_s
        for cid, entry in held.connectors.items():
            if entry.current_a > decided.current_a(cid) or entry.increased_at_s >= since_s:
                meter = self._conns[cid].meter
                if meter is not None:
                    meter.refresh()

    def _ramped_since(
        self,
        held_on: GridReading,
        grid: GridReading,
        paired_s: float | None,
        demands: list[ConnectorDemand],
        offers: Allocation,
    ) -> bool:
        """Whether a hold begun on ``held_on`` may begin again on the newer ``grid``: our
        readings bracket ``held_on`` now (``paired_s``: the newest grid reading they bracket),
        so the decreases it held are settled by them (the allocation on that pairing confirms
        what they show), and ``grid`` reads more than ``held_on`` on some phase by no more,
        on any phase, than the connectors raised lately (as ``_unraised`` counts them, none
        that paused itself) were short of their offers around ``held_on`` (their highest
        readings from just before it to just after it). Such a rise is what those EVs' ramps
        show once they follow: two EVs raised half a second apart ramp across two grid
        readings, the second read before its EV followed; bet on afresh, the newer reading
        holds only as a first one would (fresh, within every limit with the other connectors
        at their offers, explained by what our EVs can draw), until our readings bracket it
        too. A building rise that comes with such a ramp looks the same until then, as it
        does at a hold's first reading."""
        if held_on.at_s == grid.at_s or paired_s is None or paired_s < held_on.at_s:
            return False
        rise_a = [a - b for a, b in zip(grid.current_a, held_on.current_a, strict=True)]
        if not any(a > 0 for a in rise_a):
            return False  # level: the pairing decides, as before
        grid_sample = next((g for g in self._grid_history if g.arrived_s == held_on.at_s), None)
        if grid_sample is None:
            return False
        raised_since_s = held_on.at_s - max(
            self._policy.decrease_settle_s + self._policy.signal_delay_s,
            self._timing.measurement_window_s,
        )
        short_a = [0.0, 0.0, 0.0]
        for demand, conn in zip(demands, self._conns.values(), strict=True):
            entry = offers.connectors.get(demand.connector_id)
            if entry is None or entry.current_a <= 0 or entry.increased_at_s < raised_since_s:
                continue
            if self._paused_itself(demand, conn, offers):
                continue
            around = draw_around(conn.history, grid_sample, highest=True)
            if around is None:
                return False
            for line, phase in enumerate(demand.grid_phases):
                short_a[phase] += max(0.0, entry.current_a - around[line])
        return all(a <= b + METER_ROUNDING_A for a, b in zip(rise_a, short_a, strict=True))

    def _unraised(
        self,
        demands: list[ConnectorDemand],
        offers: Allocation,
        begun_on: GridReading,
        now_s: float,
        *,
        idle_raised: bool,
        building_a: Phases3,
    ) -> Phases3:
        """Per phase, what the connectors not raised within the time EVs take to follow before
        the grid reading a hold began on (``begun_on``) could still add (``unraised_rise``),
        each draw the lowest of its readings within the measurement window (an EV that dipped,
        or paused, may come back), and the raised ones whose EV paused itself
        (``_paused_itself``) or whose ramp the grid reading cannot show (``building_a``: the
        building as read now)."""
        window_s = self._timing.measurement_window_s
        follow_s = self._policy.decrease_settle_s + self._policy.signal_delay_s
        lowest = list(demands)
        paused_itself: list[str] = []
        for index, (demand, conn) in enumerate(zip(demands, self._conns.values(), strict=True)):
            entry = offers.connectors.get(demand.connector_id)
            if self._paused_itself(demand, conn, offers) or (
                entry is not None and ramp_unseen(entry, demand, building_a)
            ):
                paused_itself.append(demand.connector_id)
            draw = demand.measured_current_a
            if draw is None or offers.current_a(demand.connector_id) <= 0:
                continue
            draw = conn.history.draw_since(now_s - window_s, draw)
            lowest[index] = replace(demand, measured_current_a=draw)
        return unraised_rise(
            lowest,
            offers,
            begun_on.at_s - max(follow_s, window_s),
            idle_raised=idle_raised,
            paused_itself=paused_itself,
        )

    def _marked(self, demands: list[ConnectorDemand], now_s: float) -> list[ConnectorDemand]:
        """``demands`` with ``paused_itself`` set on each connector raised lately that reads no
        draw and whose EV paused itself (``_paused_itself``): the allocation tells such an EV
        from a start read too early to show its ramp (``settle.fit_idle_offers``). So on one
        not raised lately whose EV, asking for current, stopped drawing on its offer: kept
        for it, the offer fits beside EVs still following a lowering, as for one not asking (an
        EV paused in state C kept 6.6 A beside a slower one's 10.4 A and resumed into it)."""
        offers = self._allocation
        if offers is None:
            return demands
        raised_s = now_s - self._policy.decrease_settle_s - self._policy.signal_delay_s
        entries = offers.connectors
        for index, (demand, conn) in enumerate(zip(demands, self._conns.values(), strict=True)):
            entry = entries.get(demand.connector_id)
            if entry is None or entry.current_a <= 0:
                continue
            draw = demand.measured_current_a
            if draw is None or max(draw) > IDLE_DRAW_A:
                continue
            if entry.increased_at_s < raised_s:
                if demand.state is DemandState.CHARGING and _stopped_asking(entry, conn):
                    demands[index] = replace(demand, paused_itself=True)
                continue
            if self._paused_itself(demand, conn, offers):
                demands[index] = replace(demand, paused_itself=True)
        return demands

    def _paused_itself(
        self, demand: ConnectorDemand, conn: ConnectorRuntime, offers: Allocation
    ) -> bool:
        """Whether a connector's EV paused itself after its offer reached it: in a status read
        begun once the offer had switched on there (a signal delay after the decision) it did
        not ask for current (state B), or, asking (state C), its latest reading shows no draw on
        any phase (``IDLE_DRAW_A``) and was begun a signal delay after its last raise had
        reached it, or follows one since the switch-on that showed it drawing, read after it
        was last seen not asking. An EV following the offer draws by then, if only a little,
        and a torn reading of its ramp shows some phase drawing; one at nothing may resume into
        a real rise that the grid reading cannot show. Not asking does not depend on how much
        is offered, so a raise since the switch changes nothing: one seen in state B on 9.3 A,
        raised to 16 A and read again only before the raise reached it, was taken for a start
        read too early, kept an offer beside an EV still following a lowering and resumed into
        it; so was one that stopped drawing on the 9.3 A in state C. One asking that has not
        drawn on its offer yet may be slow to start, or draw nothing until it is offered more
        (some EVs do not charge below a current of their own), and one seen not asking since it
        drew is resuming: for those the raise counts (counted from the switch-on for every EV
        asking at 0 A, the sweep's EVs resuming or slow to start charged 0.3 % less)."""
        entry = offers.connectors.get(demand.connector_id)
        if entry is None:
            return False
        signal_delay_s = self._policy.signal_delay_s
        if demand.state is DemandState.WAITING:
            on_s = min(entry.changed_at_s, entry.increased_at_s)  # its offer last went above 0
            read_s = conn.status.latest_started_at_s
            return read_s is not None and read_s >= on_s + signal_delay_s
        if demand.state is not DemandState.CHARGING or demand.measured_current_a is None:
            return False
        history = conn.history
        if not len(history) or max(history.current_a(-1)) > IDLE_DRAW_A:
            return False
        reached_s = entry.increased_at_s + signal_delay_s
        if history.started_s(-1) >= reached_s + signal_delay_s:
            return True
        return _stopped_asking(entry, conn)

    def _explained(
        self,
        grid: GridReading,
        demands: list[ConnectorDemand],
        offers: Allocation,
        now_s: float,
    ) -> bool:
        """Whether ``grid`` can be the building as it was at most at the newest grid reading
        our readings bracket, with our connectors at the most they can draw (each reading the
        highest within the measurement window): see ``caution.explained``. Within a meter's
        rounding (``METER_ROUNDING_A``), neither an increase step nor the chargers' setpoint
        step (``resolution_a``, up to 1 A): a building rise 0.7 A above what a raised EV lacked
        of its offer was held as its ramp, and it ramped on top of it (5.5 A*s over 32 A)."""
        found = self._pairing(demands, now_s, highest=False)
        if found is None:
            return True  # nothing to tell it from: the hold's own rules decide
        paired_grid, lowest = found
        before_a = building_load(paired_grid, lowest, False, self._policy)
        window_s = self._timing.measurement_window_s
        highest = list(demands)
        for index, (demand, conn) in enumerate(zip(demands, self._conns.values(), strict=True)):
            draw = demand.measured_current_a
            if draw is None:
                continue
            draw = conn.history.draw_since(now_s - window_s, draw, highest=True)
            highest[index] = replace(demand, measured_current_a=draw)
        ours_a = most_drawn(highest, offers)
        return explained(grid.current_a, before_a, ours_a, METER_ROUNDING_A)

    def _paired(
        self, demands: list[ConnectorDemand], grid: GridReading, now_s: float
    ) -> tuple[GridReading, list[ConnectorDemand]]:
        """The newest grid reading our own readings bracket, with our draw around it; without
        one, the latest with none of our draw counted (see ``domain.balancing.caution``)."""
        found = self._pairing(demands, now_s, highest=False)
        if found is None:
            return grid, [replace(d, measured_current_a=None) for d in demands]
        return found

    def _pairing(
        self, demands: list[ConnectorDemand], now_s: float, *, highest: bool
    ) -> tuple[GridReading, list[ConnectorDemand]] | None:
        """The newest grid reading our own readings bracket, with our draw around it, the
        lowest or the ``highest`` per phase; None without one."""
        measured = [
            (index, conn.history)
            for index, (demand, conn) in enumerate(zip(demands, self._conns.values(), strict=True))
            if demand.measured_current_a is not None
        ]
        window_s = self._timing.measurement_window_s
        grids = [g for g in self._grid_history if g.arrived_s >= now_s - window_s]
        found = bracketed(grids, [history for _, history in measured], highest=highest)
        if found is None:
            return None
        paired, draws = found
        paired_demands = list(demands)
        for (index, _), draw in zip(measured, draws, strict=True):
            paired_demands[index] = replace(demands[index], measured_current_a=draw)
        return GridReading(paired.current_a, paired.arrived_s), paired_demands

    def _grid_read(self, reading: MeterReading) -> None:
        assert self._grid is not None
        remember(self._grid_history, self._grid, reading)
        # Over any limit: a child's phase budgets and the power limit too. Within a meter's
        # rounding of a limit is a site filled to it as measured (a sum of float registers):
        # the next step answers it as usual, and the increases under way stand. Not within the
        # chargers' setpoint step (``resolution_a``, up to 1 A): at 1 A a reading 0.9 A over
        # let the step's increases go out on top of it and the reads go on before its answer.
        if not within_limits(reading.current_a, self._effective_site(), METER_ROUNDING_A):
            self._overloaded.set()
            if not self._reads.held:
                self._held_since_step = self._steps_begun
            self._collections.hold()
            self._reads.hold()
        self._wake.set()

    async def shutdown(self) -> None:
        """Stop deciding; set every charger with an authorised session (or with free vend) to
        its safe current and every other one to 0 A, its watchdog's fallback likewise."""
        self._stopping = True
        self._wake.set()
        self._collections.release()
        self._reads.release()
        async with self._write_lock:
            await self._program_failsafes(lowering=True)
            async with asyncio.TaskGroup() as group:
                for conn in self._conns.values():
                    group.create_task(self._set(conn, conn.safe_current_a))
            await self._program_failsafes(lowering=False)
        self._log.info("chargers set to their safe current (0 A without a session)")

    # --- helpers ------------------------------------------------------------------------------

    def _effective_site(self) -> Site:
        cap = self.grid_cap()
        caps = [cap] if cap is not None else []
        site = self._site
        budget = self._budget
        if budget is not None:  # per phase: a single-phase EV may have more on its phase
            caps.append(Limit(max(budget.current_a), budget.source))
            site = replace(site, phase_limits_a=budget.current_a)
            if budget.power_w is not None and budget.power_w < (site.power_limit_w or math.inf):
                site = replace(site, power_limit_w=budget.power_w)
        cap = min(caps, key=lambda c: c.current_a) if caps else None
        if cap is None or cap.current_a >= site.grid_limit_a:
            return site
        return replace(site, grid_limit_a=cap.current_a, grid_label=cap.source)

    def _grid_reading(self) -> GridReading | None:
        if self._grid is None or self._grid.latest is None or self._grid.latest_at_s is None:
            return None
        return GridReading(self._grid.latest.current_a, self._grid.latest_at_s)

    async def _write(
        self,
        alloc: Allocation,
        demands: Sequence[ConnectorDemand],
        now_s: float,
        overload_at_s: float | None,
    ) -> None:
        """Lowered (and unknown) setpoints first, so the sum never overshoots in between, and
        alone, so an overload's answer does not wait for the rest (nor, while it is written, for
        the chargers' reads); then the values the watchdogs must hear again, then the increases.
        A newer overloading grid reading drops the increases and the values a watchdog heard
        less than half its timeout ago: at 1,000 connectors some 500 such values a step held
        the fresh step's lowered setpoints back. The older ones always go out: under an
        overload lasting many steps, values never heard again would let every watchdog fall to
        its fallback current, above a paused setpoint."""
        lower: list[tuple[ConnectorRuntime, float]] = []
        keep: list[tuple[ConnectorRuntime, float]] = []
        rise: list[tuple[ConnectorRuntime, float]] = []
        for conn, demand in zip(self._conns.values(), demands, strict=True):
            target = alloc.current_a(demand.connector_id)
            if demand.state is DemandState.UNAVAILABLE or not self._due(conn, target, now_s):
                continue
            written_a = conn.written_a
            batch = lower if written_a is None or target < written_a else rise
            (keep if target == written_a else batch).append((conn, target))
        known = [(conn, target) for conn, target in lower if conn.written_a is not None]
        unknown = [(conn, target) for conn, target in lower if conn.written_a is None]
        self._reaction.writing(overload_at_s)
        # The reads wait for the known lowerings only: an unreachable charger's unknown
        # setpoint, written again at every step, would hold them up to io_timeout_s each time.
        async with asyncio.TaskGroup() as group:
            for conn, target in unknown:
                group.create_task(self._set(conn, target))
            timed: list[tuple[str, float, float]] | None = None
            if known and overload_at_s is not None:
                self._reads.hold()  # held since the reading, unless its bound ran out
                timed = []
            try:
                await self._set_all(known, timed)
            finally:
                self._release_holds()
            self._reaction.lowered(overload_at_s, timed or ())
        # A value its watchdog heard lately may wait for the fresh step an overloading reading
        # starts (it stays due); one heard longer ago goes out whatever comes, so an overload
        # lasting many steps never lets a watchdog fall to its fallback.
        urgent: list[tuple[ConnectorRuntime, float]] = []
        deferrable: list[tuple[ConnectorRuntime, float]] = []
        for conn, target in keep:
            late = self._unheard_s(conn, now_s) >= self._may_wait_until_s(conn)
            (urgent if late else deferrable).append((conn, target))
        await self._set_all(urgent)
        await self._unless_overloaded(deferrable)
        await self._unless_overloaded(rise)

    async def _set_all(
        self,
        batch: list[tuple[ConnectorRuntime, float]],
        timed: list[tuple[str, float, float]] | None = None,
    ) -> None:
        """Write ``batch`` side by side; ``timed`` gets each write's connector and when it
        was asked for and done."""
        if batch:
            async with asyncio.TaskGroup() as group:
                for conn, target in batch:
                    write = self._set(conn, target)
                    group.create_task(write if timed is None else self._timed(write, conn, timed))

    async def _timed(
        self,
        write: Coroutine[Any, Any, None],
        conn: ConnectorRuntime,
        timed: list[tuple[str, float, float]],
    ) -> None:
        asked_s = self._clock()
        await write
        timed.append((conn.setup.connector_id, asked_s, self._clock()))

    async def _unless_overloaded(self, rise: list[tuple[ConnectorRuntime, float]]) -> None:
        """Write the increases ``rise`` unless a grid reading over a limit arrives first; then
        the writes not done are dropped: the reading is answered by a fresh step rather than
        after them. An increase cut short leaves its setpoint unknown, written again first."""
        if not rise or self._overloaded.is_set():
            return
        tasks = [asyncio.create_task(self._set(conn, target)) for conn, target in rise]
        everything = asyncio.gather(*tasks, return_exceptions=True)
        overload = asyncio.ensure_future(self._overloaded.wait())
        try:
            await asyncio.wait((everything, overload), return_when=asyncio.FIRST_COMPLETED)
        finally:
            overload.cancel()
            cut = [task for task in tasks if not task.done()]
            for task in cut:
                task.cancel()
            await everything
        for result in everything.result():
            if isinstance(result, Exception):
                raise result  # a bug in a write is not swallowed

    def _release_holds(self) -> None:
        """Let the collector run and the chargers' reads begin again once a step begun after
        the overloading reading has written its lowered setpoints (a step under way when it
        came does not answer it)."""
        if self._steps_begun > self._held_since_step:
            self._collections.release()
            self._reads.release()

    def _due(self, conn: ConnectorRuntime, target_a: float, now_s: float) -> bool:
        """A changed setpoint, or an unchanged one the charger's watchdog must hear again (a
        charger falls back to its failsafe current after failsafe_timeout_s without writes)."""
        if conn.written_a != target_a:
            return True
        return self._unheard_s(conn, now_s) >= conn.setup.failsafe_timeout_s / 3

    def _may_wait_until_s(self, conn: ConnectorRuntime) -> float:
        """How long a value may go unheard and still wait for the next step: half the watchdog's
        timeout, less where a tick and a write's whole timeout after it would reach the
        timeout (check-config warns when even a third of it leaves no such room)."""
        timeout_s = conn.setup.failsafe_timeout_s
        return min(timeout_s / 2, timeout_s - self._timing.tick_s - self._timing.io_timeout_s)

    def _unheard_s(self, conn: ConnectorRuntime, now_s: float) -> float:
        """Since the last write the charger accepted (its watchdog's last news of us)."""
        return now_s - self._written_at_s.get(conn.setup.connector_id, float("-inf"))

    async def _set(self, conn: ConnectorRuntime, current_a: float) -> None:
        try:
            async with asyncio.timeout(self._timing.io_timeout_s):
                await conn.setup.charger.set_current(current_a)
        except asyncio.CancelledError:
            if conn.written_a != current_a:
                conn.written_a = None  # cut short: the charger may have either value
            raise
        except (DeviceError, TimeoutError) as exc:
            conn.written_a = None
            if not conn.write_failing:
                conn.write_failing = True
                self._log.warning(
                    "setpoint write failed", connector=conn.setup.connector_id, error=repr(exc)
                )
            return
        changed = conn.written_a != current_a
        conn.written_a = current_a
        self._written_at_s[conn.setup.connector_id] = self._clock()
        if conn.write_failing:
            conn.write_failing = False
            self._log.info("setpoint writes work again", connector=conn.setup.connector_id)
        if changed:
            # Read its answer to a new setpoint early; a value written again only for its
            # watchdog changes nothing to see (at 1,000 connectors those early reads were a
            # sixth of the bus traffic).
            conn.read_early(current_a)

    async def _program_failsafes(self, *, lowering: bool) -> None:
        await program_failsafes(
            self._conns.values(), self._timing.io_timeout_s, self._log, lowering=lowering
        )

    def _check_failsafe(self) -> list[str]:
        demands = [
            ConnectorDemand(cid, DemandState.IDLE, wiring=c.setup.wiring, feeder=c.setup.feeder)
            for cid, c in self._conns.items()
        ]
        failsafe = {cid: c.setup.failsafe_current_a for cid, c in self._conns.items()}
        problems = failsafe_problems(self._site, demands, failsafe, self._policy)
        for problem in problems:
            self._log.warning("fallback budget not safe", problem=problem)
        return problems

    def _unread(self) -> tuple[str, ...]:
        """The loop's devices not read once yet (nor timed out): nothing about them is known."""
        grid = [self._grid.device_id] if self._grid is not None and not self._grid.attempted else []
        return (*grid, *(cid for cid, conn in self._conns.items() if not known(conn)))

    def _publish(
        self,
        now_s: float,
        demands: Sequence[ConnectorDemand],
        alloc: Allocation,
        unread: tuple[str, ...],
    ) -> None:
        """Publish what has been read: a connector once its charger has been read (or its first
        read has failed), the headroom once every device of the loop has."""
        grid, at_s = self._grid_reading(), self._wall_clock()
        self._published_at_s = now_s
        read = [d for d in demands if d.connector_id not in unread]
        self._view = SiteView(
            site_id=self.site_id,
            grid_current_a=grid.current_a if grid is not None else None,
            grid_limit_a=self._effective_site().grid_limit_a,
            headroom_a=alloc.headroom_a if not unread else None,
            grid_reading_age_s=now_s - grid.at_s if grid is not None else None,
            connectors=connector_views(read, alloc, self._conns, at_s),
            at_s=at_s,
            waiting_for=unread,
            allocation_notes=alloc.notes,
            gateway_faults=self._gateway_faults,
            gateway_children=self._gateway_children,
            **grid_fields(self._grid.latest if self._grid is not None else None),
        )
        self._view_event.set()
        self._view_event = asyncio.Event()


def _stopped_asking(entry: ConnectorAllocation, conn: ConnectorRuntime) -> bool:
    """Whether a connector's EV, asking for current and read at nothing (the caller checks
    both), drew on its offer (since it last switched on) after a status read last showed it
    not asking: it stopped on its own while asking. Known from the latest reading that showed
    it drawing, not from the bounded history: a pause outlasts the readings kept."""
    history, drew_s = conn.history, conn.drew_started_s
    if drew_s is None or not len(history):
        return False
    since_s = max(min(entry.changed_at_s, entry.increased_at_s), conn.not_asking_seen_s)
    return since_s <= drew_s < history.started_s(-1)


def _limit(current_a: float | None, origin: Origin, what: str) -> Limit | None:
    if current_a is None:
        return None
    if current_a < 0:
        raise ValueError(f"{what} must not be negative: {current_a}")
    return Limit(current_a, f"{origin.value} {what}")
