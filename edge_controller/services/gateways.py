"""Several gateways behind one grid connection, on the wire: the parent's and a child's
service (the rules are ``domain.gateways``).

The parent decides every ``tick_s`` from the children's latest demands, its grid meter and the
grid limit in force (a cap from the operator or the CSMS binds the budgets too), and publishes
each changed or renewed budget, retained, on ``<prefix>/budget/<child>``. A child takes the
budgets on its topic, caps its site with the effective one (its safe budget from the
start, and whenever no budget holds) and reports its demand on ``<prefix>/demand/<child>``
every ``report_interval_s``. Messages travel through a ``Link`` (the site's MQTT client); a
malformed message, or a budget older than the last one taken, is logged and ignored.

What an operator must fix between the gateways is shown as a gateway fault in the site's views
(status, MQTT, the console's system page, a problem report, the CSMS as the station's own
fault): at the parent, a child whose own
safe budget is above the one configured for it (it is counted at the higher) and demands from a
child it does not know; at a child, a parent whose safe budget for it is lower than its own (it
falls back to the lower) and no budget from any parent since it started.

The parent keeps what each child last said it falls back to (a ``Keeper``: the site's
database), written off the decision's path whenever it changes, and starts from it.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from edge_controller.domain.balancing import EPS_A, GridReading
from edge_controller.domain.gateways import (
    DEMAND_DELAY_S,
    DEMAND_SEND_WITHIN_S,
    BudgetMessage,
    ChildDemand,
    ChildReport,
    EffectiveBudget,
    Fallbacks,
    HeldBudget,
    MessageError,
    ParentInputs,
    ParentSetup,
    ParentState,
    decide_budgets,
    demand_of,
    draw_of,
    effective_budget,
    encode_budget,
    encode_demand,
    fallbacks,
    hold,
    newer,
    parse_budget,
    parse_demand,
    remembering,
    renewal_s,
)
from edge_controller.domain.model import Phases3
from edge_controller.domain.snapshot import ChildView, GatewayFault
from edge_controller.log import get_logger
from edge_controller.services.control.site_controller import SiteController
from edge_controller.storage.errors import StorageError

GRID_HISTORY = 16  # grid readings kept to pair with the children's reports
WARN_EVERY_S = 10.0  # a stream of bad messages is logged once per this, with a count
UNBOUNDED_REPORTS_LOGGED = 3  # reports in a row without a lowest draw that name an old child
UNKNOWN_SHOWN_S = 60.0  # a child id the parent does not know is shown this long after its demand
UNKNOWN_SHOWN = 8  # at most this many such ids are shown (a flood of them shows as a count)
NO_PARENT_AFTER_S = 30.0  # a child that has had no budget since it started shows it after this
# Clocks: a child's demands stamped later than they arrive, or budgets stamped later than they
# arrive at a child, by more than the tolerance: its clock is ahead (a delay makes a message
# only older). Demands arriving older than the tolerance and their delay allow, this many in a
# row: behind, or the broker holds them.
LATE_REPORTS_SHOWN = 3


class Link(Protocol):
    """Where the gateways' messages go out (the site's MQTT client)."""

    def publish_other(
        self, topic: str, payload: bytes, *, retain: bool, send_by_s: float | None = None
    ) -> None: ...


class Keeper(Protocol):
    """Where the parent keeps what its children said they fall back to (the site's database)."""

    async def fallbacks(self) -> dict[str, Fallbacks]: ...

    async def put(self, said: Mapping[str, Fallbacks], at_s: float) -> None: ...

    async def forget(self, child_ids: Collection[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class GatewayTopics:
    prefix: str

    def budget(self, child_id: str) -> str:
        return f"{self.prefix}/budget/{child_id}"

    def demand(self, child_id: str) -> str:
        return f"{self.prefix}/demand/{child_id}"

    @property
    def budget_filter(self) -> str:
        return f"{self.prefix}/budget/+"

    @property
    def demand_filter(self) -> str:
        return f"{self.prefix}/demand/+"


@dataclass(frozen=True, slots=True)
class GatewayClocks:
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time


class _Refusals:
    """Counts refused messages; logs the first, then at most once per ``WARN_EVERY_S``."""

    def __init__(self, log: object, clock: Callable[[], float]) -> None:
        self._log, self._clock = log, clock
        self.count = 0
        self._logged_s = -WARN_EVERY_S

    def refuse(self, event: str, **fields: object) -> None:
        self.count += 1
        now_s = self._clock()
        if now_s - self._logged_s >= WARN_EVERY_S:
            self._logged_s = now_s
            self._log.warning(event, refused=self.count, **fields)  # type: ignore[attr-defined]


class ParentService:
    """Hands every child its budget from the children's demands and the grid meter."""

    def __init__(
        self,
        setup: ParentSetup,
        controller: SiteController,
        link: Link,
        topics: GatewayTopics,
        *,
        tick_s: float = 1.0,
        clocks: GatewayClocks = GatewayClocks(),
        keeper: Keeper | None = None,
    ) -> None:
        self._setup, self._controller, self._link, self._topics = setup, controller, link, topics
        self._tick_s, self._clocks, self._keeper = tick_s, clocks, keeper
        self._kept: dict[str, Fallbacks] = {}  # what the keeper holds
        self._to_keep = asyncio.Event()
        self._state = ParentState(secrets.token_hex(4), started_s=clocks.monotonic())
        self._reports: dict[str, ChildReport] = {}
        self._grids: deque[GridReading] = deque(maxlen=GRID_HISTORY)
        self._children = {c.child_id for c in setup.children}
        self._log = get_logger("gateways", role="parent")
        self._refusals = _Refusals(self._log, clocks.monotonic)
        self._notes: tuple[str, ...] = ()
        # Reports in a row without a lowest draw, per child; a child logged once past the count.
        self._unbounded_runs: dict[str, int] = {}
        self._unbounding: set[str] = set()
        self.counted_a: dict[str, Phases3] = {}
        self._configured_safe_a = {c.child_id: c.safe_budget_a for c in setup.children}
        self._own_safe_a: dict[
            str, float
        ] = {}  # a child's own safe budget above its configured one
        # A child whose chargers' fail-safe draw is above its configured safe budget.
        self._failsafe_a: dict[str, Phases3] = {}
        self._unknown_heard_s: dict[str, float] = {}  # a child id not configured: when last heard
        self._unknown_more = 0  # demands from unknown ids beyond those shown
        self._silent: set[str] = set()  # children shown as silent (logged once each)
        # Per child: how far ahead its latest demands were stamped of their arrival (s).
        self._offsets_s: dict[str, deque[float]] = {}
        # Children shown with a clock off: how far, as first seen (logged once each).
        self._skewed: dict[str, float] = {}
        # Per child: the daemons heard as it (instance: when last), and when a second one was.
        self._instances: dict[str, dict[str, float]] = {}
        self._last_instance: dict[str, str] = {}
        self._twice_s: dict[str, tuple[float, str, str]] = {}

    def faults(self) -> tuple[GatewayFault, ...]:
        """What an operator must fix: children whose safe budget disagrees with the parent's,
        demands from children the parent does not know."""
        faults = [
            GatewayFault(
                f"safe_budget:{cid}",
                f"child {cid} has its own safe budget at {own_a:g} A, above the "
                f"{self._configured_safe_a[cid]:g} A configured for it: it falls back to this "
                f"parent's once it hears it, but to its own if it restarts without, so it is "
                f"counted at {own_a:g} A; make its site.gateways.safe_budget_a and this "
                f"parent's site.gateways.children.{cid}.safe_budget_a agree",
            )
            for cid, own_a in sorted(self._own_safe_a.items())
        ]
        faults += [
            GatewayFault(
                f"failsafe:{cid}",
                f"child {cid}'s chargers draw up to {max(draw_a):g} A on a phase on their "
                f"fail-safe currents, above the {self._configured_safe_a[cid]:g} A configured "
                f"for it: it is counted at that, which the other children's budgets lose; lower "
                f"its chargers' failsafe_current_a or raise this parent's "
                f"site.gateways.children.{cid}.safe_budget_a",
            )
            for cid, draw_a in sorted(self._failsafe_a.items())
        ]
        now_s = self._clocks.monotonic()
        for cid, heard_s in list(self._unknown_heard_s.items()):
            if now_s - heard_s > UNKNOWN_SHOWN_S:
                del self._unknown_heard_s[cid]
        faults += [
            GatewayFault(
                f"unknown_child:{cid}",
                f"demands from a child '{cid}' that is not under site.gateways.children: it "
                "gets no budget and is not counted (its site.gateways.child_id or this "
                "parent's children are wrong)",
            )
            for cid in sorted(self._unknown_heard_s)
        ]
        faults += self._clock_faults() + self._twice_faults(now_s)
        stale_s = self._setup.timing.report_stale_s
        for cid in sorted(self._silent):
            # The text stays the same while the fault lasts: the CSMS is told it again on
            # every change (OCPP 1.6's StatusNotification of connector 0).
            since = (
                "since this parent started"
                if cid not in self._reports
                else f"within site.gateways.report_stale_s ({stale_s:g} s)"
            )
            faults.append(
                GatewayFault(
                    f"child_silent:{cid}",
                    f"no demand from child {cid} {since}: it gets no budget and is counted "
                    "at what it may draw on its own; check that gateway, the broker and its "
                    "line to it, and its site.gateways.child_id and topic_prefix",
                )
            )
        if self._unknown_more and self._unknown_heard_s:
            faults.append(
                GatewayFault(
                    "unknown_child:more",
                    f"{self._unknown_more} demand(s) from further unknown children",
                )
            )
        return tuple(faults)

    def _unknown_child(self, child_id: str) -> None:
        shown = child_id[:64]
        if shown in self._unknown_heard_s or len(self._unknown_heard_s) < UNKNOWN_SHOWN:
            if shown not in self._unknown_heard_s:
                self._log.error(
                    "demand from a child that is not configured: it is not counted",
                    child=shown,
                    key="site.gateways.children",
                )
            self._unknown_heard_s[shown] = self._clocks.monotonic()
        else:
            self._unknown_more += 1

    def _check_clock(self, demand: ChildDemand) -> None:
        """How far ahead of its arrival the child stamped its demand: logged once when its
        clock shows off (``_skew``), shown while it does."""
        cid = demand.child_id
        offsets = self._offsets_s.setdefault(cid, deque(maxlen=LATE_REPORTS_SHOWN))
        offsets.append(demand.sent_at_s - self._clocks.wall())
        skew_s = self._skew(cid)
        if skew_s is not None and cid not in self._skewed:
            self._skewed[cid] = skew_s
            self._log.error(
                "child's clock is off this parent's by more than the clock tolerance",
                child=cid,
                offset_s=round(skew_s, 1),
                key="site.gateways.clock_tolerance_s",
            )
        elif skew_s is None:
            self._skewed.pop(cid, None)

    def _skew(self, cid: str) -> float | None:
        """How far the child's clock is ahead of this parent's (negative: behind), where it
        is beyond the tolerance: ahead by any of its last few demands, behind (or its demands
        held) by its last few all arriving older than the tolerance and a demand's delay
        allow."""
        offsets = self._offsets_s.get(cid)
        timing = self._setup.timing
        if not offsets:
            return None
        # Ahead until its last few all arrive within: one held in a broker about as long as
        # the clock is ahead looks on time, and would otherwise be taken as made just now.
        if max(offsets) > timing.tolerance_s:
            return max(offsets)
        late_s = -(timing.tolerance_s + timing.report_delay_s)
        if len(offsets) == LATE_REPORTS_SHOWN and all(o < late_s for o in offsets):
            return max(offsets)
        return None

    def _clock_faults(self) -> list[GatewayFault]:
        faults = []
        tolerance_s = self._setup.timing.tolerance_s
        for cid, skew_s in sorted(self._skewed.items()):
            if skew_s > 0:
                what = f"{skew_s:.1f} s ahead of this parent's (its demands are stamped later "
                what += "than they arrive)"
                costs = (
                    "its budgets hold there for less, and none of its demands bounds its draw "
                    "(one held in the broker would look on time), so its rises wait"
                )
            else:
                what = f"{-skew_s:.1f} s behind this parent's, or the broker holds its demands"
                costs = "its demands arriving that old bound nothing of its draw, so its rises wait"
            faults.append(
                GatewayFault(
                    f"clock:{cid}",
                    f"child {cid}'s clock is {what}, beyond site.gateways.clock_tolerance_s "
                    f"({tolerance_s:g} s): {costs}; set both gateways' clocks by NTP",
                )
            )
        return faults

    def _check_instance(self, demand: ChildDemand, now_s: float) -> None:
        """Two daemons running as one child: its demands switch back to a run of its daemon
        heard before (a restart only ever brings a new one). Logged once, shown a minute."""
        cid, instance = demand.child_id, demand.instance
        if instance is None:
            return
        heard = self._instances.setdefault(cid, {})
        for other, heard_s in list(heard.items()):
            if now_s - heard_s > UNKNOWN_SHOWN_S:
                del heard[other]
        last = self._last_instance.get(cid)
        if last is not None and last != instance and instance in heard:
            if cid not in self._twice_s:
                self._log.error(
                    "two gateways report as one child",
                    child=cid,
                    instances=[last, instance],
                    key="site.gateways.child_id",
                )
            _, one, other = self._twice_s.get(cid, (now_s, last, instance))
            self._twice_s[cid] = (now_s, one, other)  # named as first seen while it lasts
        if instance in heard or len(heard) < UNKNOWN_SHOWN:
            heard[instance] = now_s
        self._last_instance[cid] = instance

    def _twice_faults(self, now_s: float) -> list[GatewayFault]:
        faults = []
        for cid, (seen_s, one, other) in sorted(self._twice_s.items()):
            if now_s - seen_s > UNKNOWN_SHOWN_S:
                del self._twice_s[cid]
                continue
            faults.append(
                GatewayFault(
                    f"duplicate_child:{cid}",
                    f"two gateways report as child {cid} (runs {one} and {other}): both take "
                    f"its budget, so they may draw it twice; give each child gateway its own "
                    "site.gateways.child_id and this parent a site.gateways.children entry for it",
                )
            )
        return faults

    def _watch_silent(self, now_s: float) -> None:
        """Which children are silent (no demand within ``report_stale_s``, or none at all
        ``NO_PARENT_AFTER_S`` after this parent started): logged once each when it starts,
        shown as a gateway fault while it lasts; and every child as the parent sees it."""
        stale_s = self._setup.timing.report_stale_s
        views = []
        for child in self._setup.children:
            cid, report = child.child_id, self._reports.get(child.child_id)
            age_s = None if report is None else now_s - report.received_s
            lost = age_s is None or age_s > stale_s
            silent = now_s - self._state.started_s >= NO_PARENT_AFTER_S if age_s is None else lost
            if silent and cid not in self._silent:
                self._silent.add(cid)
                self._log.warning(
                    "child silent: no budget for it, counted at what it may draw on its own",
                    child=cid,
                    report_age_s=None if age_s is None else round(age_s, 1),
                    report_stale_s=stale_s,
                )
            elif not silent and cid in self._silent:
                self._silent.discard(cid)
                self._log.info("child reports again", child=cid)
            ledger = self._state.ledgers.get(cid)
            latest = None if ledger is None else ledger.latest
            in_force = latest is not None and now_s < latest.issued_s + child.lease_s
            views.append(
                ChildView(
                    cid,
                    None if age_s is None else round(age_s, 2),
                    latest.current_a if latest is not None and in_force else None,
                    self.counted_a.get(cid, (0.0, 0.0, 0.0)),
                    lost,
                )
            )
        self._controller.set_gateway_children(tuple(views))

    def _check_failsafe(self, cid: str, draw_a: Phases3 | None) -> None:
        """A child whose chargers' fail-safe draw is above its configured safe budget is
        counted at it (``decide_budgets``); logged once per value, shown while it lasts."""
        if draw_a is None or max(draw_a) <= self._configured_safe_a[cid] + EPS_A:
            self._failsafe_a.pop(cid, None)
            return
        if self._failsafe_a.get(cid) != draw_a:
            self._log.error(
                "child's chargers draw more on their fail-safe currents than its safe budget: "
                "counted at that",
                child=cid,
                failsafe_a=list(draw_a),
                configured_safe_budget_a=self._configured_safe_a[cid],
                keys=[
                    f"site.gateways.children.{cid}.safe_budget_a (this parent)",
                    "chargers.*.failsafe_current_a (the child)",
                ],
            )
        self._failsafe_a[cid] = draw_a

    def _check_safe(self, demand: ChildDemand) -> None:
        """A child whose own safe budget is above the one configured for it is counted at its
        own (``decide_budgets``); logged once per value, shown while it lasts."""
        cid, own_a = demand.child_id, demand.safe_budget_a
        self._check_failsafe(cid, demand.failsafe_a)
        configured_a = self._configured_safe_a[cid]
        if own_a is None or own_a <= configured_a + EPS_A:
            self._own_safe_a.pop(cid, None)
            return
        if self._own_safe_a.get(cid) != own_a:
            self._log.error(
                "child's safe budget is above the one configured for it: counted at the higher",
                child=cid,
                child_safe_budget_a=own_a,
                configured_safe_budget_a=configured_a,
                keys=[
                    f"site.gateways.children.{cid}.safe_budget_a (this parent)",
                    "site.gateways.safe_budget_a (the child)",
                ],
            )
        self._own_safe_a[cid] = own_a

    def on_message(self, topic: str, payload: bytes) -> None:
        """A child's demand (the topic names the child)."""
        child_id = topic.rsplit("/", 1)[-1]
        if child_id not in self._children:
            self._refusals.refuse("demand from an unknown child refused", topic=topic)
            self._unknown_child(child_id)
            return
        try:
            demand = parse_demand(payload, child_id)
        except MessageError as exc:
            self._refusals.refuse("malformed demand refused", child=child_id, reason=str(exc))
            return
        self._check_safe(demand)
        now_s = self._clocks.monotonic()
        self._check_clock(demand)
        self._check_instance(demand, now_s)
        demand = self._bounding(demand)
        before = self._reports.get(child_id)
        self._reports[child_id] = (
            before.then(demand, now_s) if before else ChildReport(demand, now_s)
        )

    def _bounding(self, demand: ChildDemand) -> ChildDemand:
        """The demand, its lowest draw left out where it bounds nothing: one made longer ago
        by its child's clock than the clock tolerance and the delay the parent allows for (held
        in a broker: its span would be placed late), or any while the child's clock shows
        ahead (``_skew``: its stamp then proves nothing). A child that reports no lowest draw (of a
        version before) has nothing of its draw taken off a grid reading: logged once."""
        timing = self._setup.timing
        if demand.lowest_draw_a is None:
            # A child of this version sends one in every report (none of its draw where it
            # read none), so only reports without one in a row name a child of the version
            # before.
            runs = self._unbounded_runs.get(demand.child_id, 0) + 1
            self._unbounded_runs[demand.child_id] = runs
            if runs >= UNBOUNDED_REPORTS_LOGGED and demand.child_id not in self._unbounding:
                self._unbounding.add(demand.child_id)
                self._log.warning(
                    "child reports no lowest draw: nothing of its draw comes off the grid "
                    "readings, its rises wait (upgrade it)",
                    child=demand.child_id,
                )
            return demand
        self._unbounded_runs[demand.child_id] = 0
        late_s = self._clocks.wall() - demand.sent_at_s
        skew_s = self._skew(demand.child_id)
        if late_s > timing.tolerance_s + timing.report_delay_s:
            self._refusals.refuse(
                "late demand bounds nothing", child=demand.child_id, late_s=round(late_s, 1)
            )
        elif skew_s is not None and skew_s > 0:
            # Its stamp is then no proof of when it was made: held in a broker up to the skew,
            # the tolerance and the delay, it still looks on time; placed late, its earlier
            # (higher) draw taken off a later grid reading leaves the building too light.
            self._refusals.refuse(
                "demand of a child whose clock is ahead bounds nothing",
                child=demand.child_id,
                ahead_s=round(skew_s, 1),
            )
        else:
            return demand
        return replace(demand, lowest_draw_a=None, lowest_span_s=0.0, highest_draw_a=None)

    async def recall(self) -> None:
        """Start from what the children said before this run (until each reports again).
        Nothing read here stops the parent: what cannot be read counts as never heard (each
        child at the higher of its configured values), as a child whose row is malformed
        (left out by the keeper). What children no longer configured said is forgotten."""
        if self._keeper is None:
            return
        try:
            kept = await self._keeper.fallbacks()
        except Exception as exc:  # never worse than a parent started without a database
            self._log.error(
                "what the children said before could not be read",
                error=str(exc),
                exc_info=not isinstance(exc, StorageError),
            )
            return
        gone = sorted(cid for cid in kept if cid not in self._configured_safe_a)
        kept = {cid: said for cid, said in kept.items() if cid in self._configured_safe_a}
        if gone:
            await self._forget(self._keeper, gone)
        self._kept = kept
        self._state = remembering(self._state, kept)
        for cid, said in kept.items():
            own_a = max(said.own_a, said.now_a or 0.0)
            if own_a > self._configured_safe_a[cid] + EPS_A:
                self._own_safe_a[cid] = own_a
            self._check_failsafe(cid, said.failsafe_a)
        if kept:
            self._log.info("children counted as they said before", said=str(kept))

    async def _forget(self, keeper: Keeper, gone: list[str]) -> None:
        """What children no longer configured said: never counted, and dropped (else it would
        come back, stale, if one of them were configured again)."""
        try:
            await keeper.forget(gone)
        except Exception as exc:  # left to the next start
            self._log.warning(
                "what children no longer configured said could not be dropped",
                children=[cid[:64] for cid in gone[:UNKNOWN_SHOWN]],
                error=str(exc),
            )
            return
        self._log.info(
            "what children no longer configured said is dropped",
            children=[cid[:64] for cid in gone[:UNKNOWN_SHOWN]],
            count=len(gone),
        )

    async def run(self) -> None:
        await self.recall()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._keeping())
            while True:
                self.step()
                await asyncio.sleep(self._tick_s)

    async def _keeping(self) -> None:
        """Writes what the children said whenever it changed (never on the decision's path)."""
        while self._keeper is not None:
            await self._to_keep.wait()
            self._to_keep.clear()
            try:
                kept = await self.keep()
            except Exception as exc:  # a failure here must not end the decisions beside it
                self._log.error(
                    "what the children said could not be kept", error=str(exc), exc_info=True
                )
                kept = False
            if not kept:
                await asyncio.sleep(WARN_EVERY_S)
                self._to_keep.set()

    async def keep(self) -> bool:
        """Write what the children said that the keeper does not hold yet; False: it failed."""
        said = fallbacks(self._state)
        changed = {cid: f for cid, f in said.items() if self._kept.get(cid) != f}
        if self._keeper is None or not changed:
            return True
        try:
            await self._keeper.put(changed, self._clocks.wall())
        except StorageError as exc:
            self._log.error("what the children said could not be kept", error=str(exc))
            return False
        self._kept.update(changed)
        return True

    def step(self) -> None:
        grid = self._controller.grid_reading()
        if grid is not None and (not self._grids or self._grids[-1].at_s != grid.at_s):
            self._grids.append(grid)
        inputs = ParentInputs(
            dict(self._reports),
            tuple(self._grids),
            self._clocks.monotonic(),
            self._clocks.wall(),
            grid_cap=self._controller.grid_cap(),
        )
        decision = decide_budgets(self._setup, self._state, inputs)
        self._state = decision.state
        now_s = self._clocks.monotonic()
        for budget in decision.publish:
            # Not sent within a renewal (the broker down): a later one replaces it, or the
            # child is silent and runs out its lease; sent late, it would expire on arrival.
            self._link.publish_other(
                self._topics.budget(budget.child_id),
                encode_budget(budget),
                retain=True,
                send_by_s=now_s + renewal_s(budget.lease_s),
            )
        self.counted_a = dict(decision.counted_a)
        self._watch_silent(now_s)
        said = fallbacks(self._state)
        if any(self._kept.get(cid) != f for cid, f in said.items()):
            self._to_keep.set()
        self._controller.set_gateway_faults(self.faults())
        if decision.notes != self._notes:
            self._notes = decision.notes
            self._log.info("budget notes", notes=list(decision.notes), counted=self.counted_a)


class ChildService:
    """Runs the site within its parent's budget and reports its demand."""

    def __init__(
        self,
        child: ChildTerms,
        controller: SiteController,
        link: Link,
        topics: GatewayTopics,
        *,
        clocks: GatewayClocks = GatewayClocks(),
    ) -> None:
        self._child, self._controller, self._link, self._topics = child, controller, link, topics
        self._clocks = clocks
        self._last: BudgetMessage | None = None
        self._held: HeldBudget | None = None
        self._log = get_logger("gateways", role="child", child=child.child_id)
        self._refusals = _Refusals(self._log, clocks.monotonic)
        self._recent: deque[tuple[float, Phases3]] = deque()
        # The draws sampled (when taken, per grid phase) since DEMAND_DELAY_S before the last
        # report's draw, and when that one was taken.
        self._samples: deque[tuple[float, Phases3]] = deque()
        self._reported_s: float | None = None
        self._report_s: float | None = None  # when the last report was made
        self._sampled: object = None  # the controller's demands last looked at
        self._budget_source = ""
        self._started_s = clocks.monotonic()
        self._heard = False  # a budget from a parent since it started
        self._parent_safe_a: float | None = None  # the safe budget its parent has for it
        self._instance = secrets.token_hex(4)  # this run, in its demands
        self._ahead_s: float | None = None  # how far ahead the latest budget was stamped
        self._budget = self._effective()
        controller.set_budget(self._budget)  # the safe budget from the very start
        self._note(self._budget)

    def on_message(self, topic: str, payload: bytes) -> None:
        """A budget on this child's topic (other children's are not listened to)."""
        if topic != self._topics.budget(self._child.child_id):
            return
        try:
            message = parse_budget(payload, self._child.child_id)
        except MessageError as exc:
            self._refusals.refuse("malformed budget refused", reason=str(exc))
            return
        if not newer(message, self._last):
            last = self._last
            self._refusals.refuse(
                "stale budget refused",
                version=message.version,
                last=None if last is None else last.version,
            )
            return
        self._last = message
        self._check_clock(message)
        self._take_safe(message.safe_budget_a)
        self.apply()  # what it runs on now, the most a late budget gives
        now_s, wall_s = self._clocks.monotonic(), self._clocks.wall()
        tolerance_s = self._child.tolerance_s
        self._held = hold(message, now_s, wall_s, tolerance_s, self._budget.current_a)
        # Only a budget in force counts as a parent heard: a broker replays a dead parent's
        # retained budget, long expired, to a child that restarts.
        self._heard = self._heard or self._held is not None
        if self._held is None:
            self._log.warning("budget expired on arrival", version=message.version)
        elif self._held.late:
            left_s = self._held.valid_until_s - now_s
            self._log.info("late budget raises nothing", version=message.version, left_s=left_s)
        self.apply()

    def _check_clock(self, message: BudgetMessage) -> None:
        """A budget stamped later than it arrives by more than the tolerance: the parent's
        clock is ahead of this child's (a delay makes a budget only older). Logged once, shown
        until a budget arrives within it."""
        ahead_s = message.issued_at_s - self._clocks.wall()
        if ahead_s <= self._child.tolerance_s:
            self._ahead_s = None
            return
        if self._ahead_s is None:  # shown as first seen while it lasts
            self._log.error(
                "the parent's clock is ahead of this child's by more than the clock tolerance",
                ahead_s=round(ahead_s, 1),
                key="site.gateways.clock_tolerance_s",
            )
            self._ahead_s = ahead_s

    def _take_safe(self, counted_a: float | None) -> None:
        """The safe budget the parent has for this child: it falls back to no more (a parent of
        a version before does not say)."""
        if counted_a is None or counted_a == self._parent_safe_a:
            return
        self._parent_safe_a = counted_a
        if counted_a < self._child.safe_budget_a - EPS_A:
            self._log.error(
                "the parent has a lower safe budget for this child than its own: it falls back "
                "to the parent's",
                safe_budget_a=self._child.safe_budget_a,
                parent_safe_budget_a=counted_a,
                keys=[
                    "site.gateways.safe_budget_a (this child)",
                    f"site.gateways.children.{self._child.child_id}.safe_budget_a (the parent)",
                ],
            )

    def safe_a(self) -> float:
        """What the child falls back to without a budget that holds: its own safe budget, or
        the one its parent has for it if lower, within its feeder."""
        own_a = self._child.safe_budget_a
        if self._parent_safe_a is not None:
            own_a = min(own_a, self._parent_safe_a)
        return min(own_a, self._child.feeder_limit_a)

    def faults(self) -> tuple[GatewayFault, ...]:
        """What an operator must fix: a parent with a lower safe budget for this child than its
        own, no budget from any parent since it started, or none in force any more (its lease
        over: the parent, the broker or the line to it lost; cleared by a fresh one)."""
        child, faults = self._child, []
        parent_a = self._parent_safe_a
        if parent_a is not None and parent_a < child.safe_budget_a - EPS_A:
            faults.append(
                GatewayFault(
                    "safe_budget",
                    f"the parent has a safe budget of {parent_a:g} A for this child, below its "
                    f"own {child.safe_budget_a:g} A: it falls back to {parent_a:g} A; make "
                    "its site.gateways.safe_budget_a and the parent's "
                    f"site.gateways.children.{child.child_id}.safe_budget_a agree",
                )
            )
        if self._ahead_s is not None:
            faults.append(
                GatewayFault(
                    "clock",
                    f"the parent's clock is {self._ahead_s:.1f} s ahead of this child's (its "
                    f"budgets are stamped later than they arrive), beyond "
                    f"site.gateways.clock_tolerance_s ({self._child.tolerance_s:g} s); set both "
                    "gateways' clocks by NTP",
                )
            )
        if self._heard and self._budget.applied is None:
            faults.append(
                GatewayFault(
                    "parent_lost",
                    f"no budget in force from the parent ({self._budget.source}): it runs on "
                    f"its safe budget ({self.safe_a():g} A) until a fresh one arrives; check "
                    "the parent gateway, the broker and this child's line to it",
                )
            )
        if not self._heard and self._clocks.monotonic() - self._started_s >= NO_PARENT_AFTER_S:
            faults.append(
                GatewayFault(
                    "no_parent",
                    f"no budget from a parent since this child started: it runs on its safe "
                    f"budget ({self.safe_a():g} A); check site.gateways.child_id "
                    f"({child.child_id}) and topic_prefix against the parent's, and the broker",
                )
            )
        return tuple(faults)

    def apply(self) -> None:
        """Cap the site at the budget that holds now (the safe budget if none does)."""
        budget = self._effective()
        if budget != self._budget:
            if self._heard and budget.applied is None and self._budget.applied is not None:
                self._log.warning(
                    "no budget in force from the parent: on the safe budget",
                    source=budget.source,
                    safe_budget_a=self.safe_a(),
                )
            self._budget = budget
            self._controller.set_budget(budget)
            self._note(budget)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._expiry())
            group.create_task(self._reports())

    async def _expiry(self) -> None:
        """A lease ends without a message: look often enough to fall back in time (and at
        every decision's draw of the site)."""
        while True:
            self.apply()
            self.sample()
            self._controller.set_gateway_faults(self.faults())
            await asyncio.sleep(0.25)

    def sample(self) -> None:
        """Take the draw of the controller's latest decision into the next report's lowest:
        the parent takes only that off a grid reading of the span, since the EVs may pause on
        their own between two reports."""
        demands = self._controller.demands
        taken_s = self._controller.draw_taken_at_s()
        if demands is self._sampled or taken_s is None:
            return
        self._sampled = demands
        self._samples.append((taken_s, draw_of(demands)))

    async def _reports(self) -> None:
        while True:
            self.report()
            await asyncio.sleep(self._child.report_interval_s)

    def report(self) -> None:
        budget, now_s = self._budget, self._clocks.monotonic()
        self.sample()
        taken_s = self._controller.draw_taken_at_s()
        lowest, highest = self._extremes(taken_s)
        if taken_s is None:
            lowest = self._nothing_read(now_s)
        demand = demand_of(
            self._child.child_id,
            self._controller.demands,
            (budget.applied, self._may_draw(now_s)),
            self._clocks.wall(),
            draw_age_s=0.0 if taken_s is None else now_s - taken_s,
            lowest=lowest,
            highest=highest,
            safe=(min(self._child.safe_budget_a, self._child.feeder_limit_a), self.safe_a()),
            failsafe_a=self._child.failsafe_a,
            instance=self._instance,
        )
        if taken_s is not None:  # the next report's span starts DEMAND_DELAY_S before this one
            self._reported_s = taken_s
            samples = self._samples
            while len(samples) > 1 and samples[1][0] <= taken_s - DEMAND_DELAY_S:
                samples.popleft()
        self._report_s = now_s
        topic = self._topics.demand(self._child.child_id)
        # Sent late, it would be placed later than it was made (the parent allows for
        # DEMAND_SEND_WITHIN_S); dropped instead, its span goes uncovered, the next one follows.
        self._link.publish_other(
            topic, encode_demand(demand), retain=False, send_by_s=now_s + DEMAND_SEND_WITHIN_S
        )

    def _nothing_read(self, now_s: float) -> tuple[Phases3, float]:
        """The lowest draw of a report without a draw of its own read (before the controller's
        first decision; every connector idle, its draw counted as the building's; no meters):
        none of it, over the span from ``DEMAND_DELAY_S`` before the report before. Saying
        nothing, a child of this version was taken for one of the version before whenever its
        EVs were idle, at its start and after a broker outage. The spans that follow start at
        the next draw read: one reaching back over this span would take a draw from before it
        for the least drawn during it."""
        self._samples.clear()
        self._reported_s = None
        span_s = 0.0 if self._report_s is None else now_s - self._report_s + DEMAND_DELAY_S
        return (0.0, 0.0, 0.0), span_s

    def _extremes(
        self, taken_s: float | None
    ) -> tuple[tuple[Phases3, float] | None, Phases3 | None]:
        """The lowest draw sampled from ``DEMAND_DELAY_S`` before the last report's draw (the
        sample then in force included) up to this one's, and over how long: the parent places
        a report's span by its arrival, up to that delay late, so a span reaching that far back
        leaves no moment between two reports that neither surely covers; and the highest over
        the same samples."""
        if taken_s is None:
            return None, None
        since_s = -math.inf if self._reported_s is None else self._reported_s - DEMAND_DELAY_S
        first = max((n for n, (at_s, _) in enumerate(self._samples) if at_s <= since_s), default=0)
        draws = [(at_s, draw) for at_s, draw in list(self._samples)[first:] if at_s <= taken_s]
        if not draws:
            return None, None
        a, b, c = (min(draw[p] for _, draw in draws) for p in range(3))
        high = (
            max(d[0] for _, d in draws),
            max(d[1] for _, d in draws),
            max(d[2] for _, d in draws),
        )
        return ((a, b, c), taken_s - draws[0][0]), high

    @property
    def budget(self) -> EffectiveBudget:
        return self._budget

    def _effective(self) -> EffectiveBudget:
        now_s = self._clocks.monotonic()
        child = self._child
        budget = effective_budget(self._held, now_s, child.feeder_limit_a, self.safe_a())
        self._recent.append((now_s, budget.current_a))
        return budget

    def _may_draw(self, now_s: float) -> Phases3:
        """The highest budget within the time EVs take to follow a lowering."""
        recent = self._recent
        while len(recent) > 1 and recent[1][0] <= now_s - self._child.follow_s:
            recent.popleft()
        a, b, c = (max(amounts[p] for _, amounts in recent) for p in range(3))
        return (a, b, c)

    def _note(self, budget: EffectiveBudget) -> None:
        """Log when the child goes from its safe budget to its parent's, or back."""
        kind = budget.source.split(" v", 1)[0]
        if kind != self._budget_source:
            self._budget_source = kind
            self._log.info("budget", source=budget.source, current_a=list(budget.current_a))


@dataclass(frozen=True, slots=True)
class ChildTerms:
    """A child's own terms: its name, its feeder (its site's grid limit), its safe budget, how
    often it reports, the clock tolerance, and how long its EVs take to follow a lowering;
    ``failsafe_a``: what its chargers draw per grid phase on their own fail-safe currents (the
    parent counts it at no less: it leaves them there if it crashes)."""

    child_id: str
    feeder_limit_a: float
    safe_budget_a: float
    report_interval_s: float = 1.0
    tolerance_s: float = 2.0
    follow_s: float = 7.0
    failsafe_a: Phases3 | None = None
