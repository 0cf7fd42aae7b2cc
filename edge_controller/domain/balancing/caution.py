"""Holding back increases that only a misaligned pair of readings seems to allow.

The building load is the grid reading minus our own measured draw, and the two are read at
different moments. When an EV's draw changes between the grid sample and its charger's reading,
the building looks lighter or heavier than it is: an EV that just followed a lower offer, read
before it did, hides building load; one that ramped up makes the building look heavier. So the
site loop also allocates with a pairing that cannot hide building load: the newest grid reading
that every connector's readings bracket (one read entirely before it, one entirely after), our
draw taken per phase as the lower of the two; and no offer rises above that cautious answer.
Where no grid reading is bracketed yet, the cautious answer counts none of our draw (all of the
grid is building) and increases wait. Decreases never depend on it, so a conservative estimate
cannot make sessions pause and oscillate: it only delays an increase until readings confirm it.

The same misalignment makes a ramp look like building load: after a raise, a grid reading taken
once the EVs followed, less charger readings taken before they did, shows the building heavier
by the raise, and the site at its limit would cut its EVs back (and pause them at a start). So
a decrease must also show with the opposite pairing, our draw per phase the highest of the
readings around the newest bracketed grid reading (the building cannot look heavier than it
was); one it does not show is held. The hold bets that the grid reading already shows the ramp
of the connectors raised lately (within the time EVs take to follow, before the reading it was
first held on), and on no other: it holds only while the latest grid reading is fresh and,
with every other connector at its offer (its offer less its lowest recent draw added; a paused
EV its whole offer), within the limits on every phase. Otherwise (over a limit, blind, or an EV
that could resume or ramp into a real rise) every decrease goes out at once. (Without that
check a building rise to exactly the limit while an EV was paused, its offer kept, was held,
the EV resumed into it, and the grid read 36 A on a 24 A limit.) The hold lasts only until our
readings bracket the grid reading it was first held on: a real building rise while the EVs
follow a raise looks the same until the readings pair, so the step after they do lets every
decrease go out; so does a later grid reading above the one held on (the building rising
further, or a raised EV ramping into the rise: it does so until that reading at most), and
the hold ends once that reading is older than the measurement window. Once our readings
bracket it, though, a later reading above it by no more, on any phase, than the connectors
raised lately were short of their offers around it (their highest readings) is bet on afresh,
as a first reading would be: two EVs raised about together may ramp across two grid readings,
the second EV read at its old draw just before and just after the first of them. (Ended there,
a child at its 24 A budget read 24 A less 12 + 0 A as 12 A of building and cut both EVs
12 -> 6 A for the settling time.) Beyond the next grid
reading a raised connector read at 0 A counts at its offer too: its EV may be paused, not
starting, and would resume into the rise. (The next grid reading used to end it: under load
the chargers' reads, asked for again at once, came after it, and two EVs that had followed a
raise on a 24 A budget were cut 12 -> 6 A and held there for the settling time.) From the
first grid reading on, so does a raised connector whose EV did not ask for current (state B)
in a status read begun once its offer had switched on there (a decision's signal delay after
it; how much is offered does not make an EV ask, so a raise since changes nothing), or asked
(state C) and drew nothing on any phase in a reading begun a signal delay after its raise had
reached it (an EV following the raise draws by then, if only a little, and a torn reading of
its ramp shows some phase drawing) or after one that showed it drawing on its offer, not seen
not asking in between (it stopped while asking): it paused itself. (Bet on, with charger reads every
2.5 s, such an EV raised 5 s before a building rise to exactly the limit resumed into it:
36 A on a 24 A limit, in state B or C.) Nor does a decrease
wait on a grid reading above what the building can have drawn at the newest reading our
readings bracket (its draw less our lowest around it) with every connector at the most it can
draw (its offer, its earlier one while it follows a decrease, or its highest recent reading):
that much is the building's whatever our EVs do. (A building load moving from one phase to
another was held as the ramp of an EV raised by 10.8 A, 41 A over it, and the EV ramped into
it.)
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from edge_controller.domain.balancing.readings import RecentReadings, Sample
from edge_controller.domain.balancing.settle import IDLE_A
from edge_controller.domain.balancing.types import (
    EPS_A,
    Allocation,
    ConnectorAllocation,
    ConnectorDemand,
    GridReading,
    Site,
)
from edge_controller.domain.model import Phases3

HELD = "waiting for a grid reading after the ramp"
# How far a grid reading may exceed what a held decrease bets it shows (the building as paired
# plus the most our EVs can draw) and still be that: a meter's rounding and a sum of float
# registers, never the chargers' setpoint step (``resolution_a``, up to 1 A by configuration),
# for a building rise of a setpoint step's size was held as an EV's ramp and the EV ramped on
# top of it (5.5 A*s over the limit at a 1 A step).
METER_ROUNDING_A = 0.1


Readings = RecentReadings | Sequence[Sample]  # a connector's, oldest first


def draw_around(samples: Readings, grid: Sample, *, highest: bool = False) -> Phases3 | None:
    """Per phase, the lowest (or the ``highest``) of our readings from the last one done before
    ``grid`` started to the first one begun after it arrived (a draw that dipped and came back
    in between is seen by the readings in between); None unless both ends exist (oldest first
    in ``samples``). A reading taken in the same instant as ``grid`` is both ends."""
    return _recent(samples).around(grid, highest=highest)


def bracketed(
    grids: Sequence[Sample], draws: Sequence[Readings], *, highest: bool = False
) -> tuple[Sample, list[Phases3]] | None:
    """The newest grid reading that each connector's readings bracket, with every connector's
    draw around it (``draw_around``); None if there is none (``grids`` oldest first)."""
    histories = [_recent(samples) for samples in draws]
    for grid in reversed(grids):
        found = []
        for history in histories:
            draw = history.around(grid, highest=highest)
            if draw is None:
                break  # this grid reading is not bracketed: the rest need not be looked at
            found.append(draw)
        else:
            return grid, found
    return None


def _recent(samples: Readings) -> RecentReadings:
    return samples if isinstance(samples, RecentReadings) else RecentReadings.of(samples)


def rises(normal: Allocation, previous: Allocation | None) -> bool:
    """Whether any offer of ``normal`` is above the previous one."""
    if previous is None:
        return any(entry.current_a > 0 for entry in normal.connectors.values())
    before = previous.connectors
    for cid, entry in normal.connectors.items():
        prior = before.get(cid)
        if entry.current_a > (prior.current_a if prior is not None else 0.0):
            return True
    return False


def hold_unconfirmed_increases(
    normal: Allocation, cautious: Allocation, previous: Allocation | None
) -> Allocation:
    """``normal`` with every increase capped at the offer ``cautious`` allows."""
    held: dict[str, ConnectorAllocation] = {}
    for cid, entry in normal.connectors.items():
        prior = previous.connectors.get(cid) if previous is not None else None
        before_a = prior.current_a if prior is not None else 0.0
        safer = cautious.connectors.get(cid)
        if entry.current_a > before_a and safer is not None and safer.current_a < entry.current_a:
            kept_a = max(safer.current_a, min(before_a, entry.current_a))
            if kept_a < entry.current_a:
                held[cid] = _held(entry, prior, kept_a, _held_reason(safer.reason, kept_a))
    if not held:
        return normal
    return replace(normal, connectors={**normal.connectors, **held})


def lowers(normal: Allocation, previous: Allocation | None) -> bool:
    """Whether any offer of ``normal`` is below the previous one."""
    if previous is None:
        return False
    before = previous.connectors
    for cid, entry in normal.connectors.items():
        prior = before.get(cid)
        if prior is not None and entry.current_a < prior.current_a:
            return True
    return False


@dataclass(frozen=True, slots=True)
class DecreaseHold:
    """When a decrease may wait for paired readings; ``fresh_s``: the oldest grid reading it
    may wait on."""

    fresh_s: float

    def allows(
        self,
        grid: GridReading,
        site: Site,
        now_s: float,
        held_on: GridReading | None,
        paired_s: float | None,
        *,
        unraised_a: Phases3,
    ) -> bool:
        """Whether decreases may wait now: ``grid`` (the latest reading) fresh and within every
        limit of ``site`` with what the connectors not raised lately could still add to it
        (``unraised_a``, per phase: ``unraised_rise``); and where the last step held decreases
        on an earlier reading (``held_on``, None if it held none), only while our readings do
        not bracket that one yet (``paired_s``: the time of the newest grid reading they
        bracket, None if none), ``grid`` reads no more than it on any phase (a rise, the
        building's or an EV ramping into it, is answered at once), and it is no older than
        ``fresh_s``."""
        if held_on is not None and held_on.at_s != grid.at_s:
            if paired_s is not None and paired_s >= held_on.at_s:
                return False  # the readings pair around it now: they decide
            if any(a > b for a, b in zip(grid.current_a, held_on.current_a, strict=True)):
                return False
            if now_s - held_on.at_s > self.fresh_s:
                return False
        if now_s - grid.at_s > self.fresh_s:
            return False
        worst = tuple(a + b for a, b in zip(grid.current_a, unraised_a, strict=True))
        return within_limits((worst[0], worst[1], worst[2]), site)


def unraised_rise(
    demands: Sequence[ConnectorDemand],
    offers: Allocation,
    raised_since_s: float,
    *,
    idle_raised: bool = False,
    paused_itself: Collection[str] = (),
) -> Phases3:
    """Per grid phase, what the connectors not raised since ``raised_since_s`` could still add
    to the grid by drawing up to their offer in ``offers``: the offer less their draw
    (``measured_current_a``; none: the whole offer, as for a paused EV that may resume). A
    held decrease bets that the grid reading shows the ramp of the connectors raised; it must
    not bet on the others. With ``idle_raised`` (beyond the next grid reading) neither on a
    raised one read at 0 A on every phase: its EV may as well be paused as starting. Nor ever
    on a raised one in ``paused_itself``: its EV, seen once its offer had switched on there,
    did not ask for current (state B; a raise since does not change that), or, seen once the
    raise had reached it, asked (state C) and drew nothing a signal delay later, or stopped
    drawing on its offer while asking; its ramp is a resume the reading cannot show (nor is
    one whose ramp the reading cannot show for the building's rise: ``ramp_unseen``)."""
    added = [0.0, 0.0, 0.0]
    for demand in demands:
        entry = offers.connectors.get(demand.connector_id)
        if entry is None or entry.current_a <= 0:
            continue
        draw = demand.measured_current_a
        if (
            entry.increased_at_s >= raised_since_s
            and not (idle_raised and (draw is None or not any(draw)))
            and demand.connector_id not in paused_itself
        ):
            continue
        for line, phase in enumerate(demand.grid_phases):
            drawn_a = 0.0 if draw is None else draw[line]
            added[phase] += max(0.0, entry.current_a - drawn_a)
    return (added[0], added[1], added[2])


def ramp_unseen(entry: ConnectorAllocation, demand: ConnectorDemand, building_a: Phases3) -> bool:
    """Whether the grid reading whose building load is ``building_a`` cannot show a start
    raised as ``entry`` and read at nothing (its latest reading, ``demand``) ramping: its ramp would
    raise its first phase (where every EV draws) above all, and the building looks to have
    risen more on another of its phases (see ``settle._own_ramp_a``, which counts no more
    than that first phase's rise as its ramp). Held as such, a start stepped into a building
    rise on L2 beside EVs whose lowering waited with it (24.9 A of ours where 18.7 A was
    left)."""
    then_a, draw = entry.raised_on_a, demand.measured_current_a
    if then_a is None or draw is None or max(draw) >= IDLE_A:
        return False
    phases = demand.grid_phases
    rise_a = [now - then for now, then in zip(building_a, then_a, strict=True)]
    return max(rise_a[phase] for phase in phases) > rise_a[phases[0]] + EPS_A


def most_drawn(demands: Sequence[ConnectorDemand], offers: Allocation) -> Phases3:
    """Per grid phase, the most our connectors can draw: each the highest of its offer in
    ``offers`` (its earlier one while it follows a decrease) and its draw
    (``measured_current_a``)."""
    added = [0.0, 0.0, 0.0]
    for demand in demands:
        entry = offers.connectors.get(demand.connector_id)
        offer_a = 0.0 if entry is None else max(entry.current_a, entry.assumed_current_a)
        draw = demand.measured_current_a
        for line, phase in enumerate(demand.grid_phases):
            drawn_a = 0.0 if draw is None else draw[line]
            added[phase] += max(offer_a, drawn_a)
    return (added[0], added[1], added[2])


def explained(grid_a: Phases3, building_a: Phases3, ours_a: Phases3, margin_a: float) -> bool:
    """Whether a grid reading (``grid_a``) can be the building load at the most it was at the
    newest reading our readings bracket (``building_a``: that reading less our lowest draws
    around it) with our connectors at the most they can draw (``ours_a``: ``most_drawn``),
    within ``margin_a`` on every phase. A held decrease bets that the reading shows our EVs'
    ramps: above what they can draw, the building rose whatever they do."""
    return all(a <= b + c + margin_a for a, b, c in zip(grid_a, building_a, ours_a, strict=True))


def within_limits(grid_a: Phases3, site: Site, margin_a: float = 0.0) -> bool:
    """Whether a grid reading is at or under the site's limit on every phase and in power
    (each a limit in amps), or over one by ``margin_a`` at most."""
    phase_limits_a = site.phase_limits_a or (site.grid_limit_a,) * 3
    for current_a, phase_limit_a in zip(grid_a, phase_limits_a, strict=True):
        if current_a > min(site.grid_limit_a, phase_limit_a) + margin_a:
            return False
    if site.power_limit_w is None:
        return True
    return sum(grid_a) <= site.power_limit_w / site.nominal_voltage_v + margin_a


def hold_unconfirmed_decreases(
    normal: Allocation, confirming: Allocation, previous: Allocation | None
) -> Allocation:
    """``normal`` with every decrease lowered only as far as ``confirming`` lowers it (an offer
    ``confirming`` keeps is kept as it was). Only where the held offers stay within
    ``confirming`` (no offer of ``normal`` above it) and nothing rises: current moved from one
    connector to another goes out as decided. The caller holds only within the limits."""
    if previous is None or rises(normal, previous):
        return normal
    others = confirming.connectors
    held: dict[str, ConnectorAllocation] = {}
    for cid, entry in normal.connectors.items():
        other = others.get(cid)
        if other is None or entry.current_a > other.current_a:
            return normal
        prior = previous.connectors.get(cid)
        if prior is None or entry.current_a >= prior.current_a:
            continue
        if other.current_a >= prior.current_a:
            held[cid] = prior  # not lowered at all: as it was (no settling, no switch)
        elif other.current_a > entry.current_a:
            held[cid] = other  # lowered as far as the paired readings show
    if not held:
        return normal
    return replace(
        normal,
        connectors={**normal.connectors, **held},
        building_load_a=confirming.building_load_a,
        headroom_a=confirming.headroom_a,
        building_at_s=confirming.building_at_s,
    )


def _held_reason(safer: str, kept_a: float) -> str:
    """What binds the cautious offer first, the wait second: "grid L1 50 A; waiting for a grid
    reading after the ramp" (paused: said once, in front)."""
    binding = safer.removeprefix("paused: ")
    return f"{binding}; {HELD}" if kept_a > 0 else f"paused: {binding}; {HELD}"


def _held(
    entry: ConnectorAllocation, prior: ConnectorAllocation | None, kept_a: float, reason: str
) -> ConnectorAllocation:
    """``entry`` at ``kept_a``: a start held back is no switch (no minimum pause follows) and
    an increase held back entirely is none (the ramp limit does not start again)."""
    prior = prior or ConnectorAllocation(entry.connector_id, 0.0, "")
    switched = (kept_a > 0) != (prior.current_a > 0)
    return entry._replace(
        current_a=kept_a,
        reason=reason,
        changed_at_s=entry.changed_at_s if switched else prior.changed_at_s,
        increased_at_s=entry.increased_at_s if kept_a > prior.current_a else prior.increased_at_s,
        assumed_current_a=kept_a,
        raised_on_a=entry.raised_on_a if kept_a > prior.current_a else prior.raised_on_a,
    )
