"""Fixed loads of an allocation: the building, silent chargers, EVs drawing over their offer,
and the fallback check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from edge_controller.domain.balancing.offers import Offer
from edge_controller.domain.balancing.tree import INF, Budget, Tree
from edge_controller.domain.balancing.types import (
    EPS_A,
    PHASE_COUNT,
    ConnectorDemand,
    DemandState,
    GridReading,
    Policy,
    Site,
)
from edge_controller.domain.model import Phases3


def building_load(
    grid: GridReading | None, demands: Sequence[ConnectorDemand], stale: bool, policy: Policy
) -> Phases3:
    """Per grid phase load that is not ours. Stale: the whole last reading (ours included)."""
    assumed = policy.assumed_building_load_a
    if grid is None:
        return (assumed, assumed, assumed)
    if stale:
        a, b, c = (max(value, assumed) for value in grid.current_a)
        return (a, b, c)
    ours = [0.0] * PHASE_COUNT
    unavailable = DemandState.UNAVAILABLE
    for demand in demands:
        measured = demand.measured_current_a
        if measured is None or demand.state is unavailable:
            continue  # unknown draw stays in the building load: that errs on the safe side
        wiring = demand.wiring
        if len(wiring) == PHASE_COUNT:  # unrolled: this runs for every connector on every decision
            first, second, third = wiring
            ours[first] += measured[0]
            ours[second] += measured[1]
            ours[third] += measured[2]
        elif len(wiring) == 1:
            ours[wiring[0]] += measured[0]
        else:
            for conn_phase, grid_phase in enumerate(wiring):
                ours[grid_phase] += measured[conn_phase]
    a, b, c = (max(0.0, grid.current_a[p] - ours[p]) for p in range(PHASE_COUNT))
    return (a, b, c)


def fixed_budget(tree: Tree, site: Site, building: Phases3, silent: Sequence[Offer]) -> Budget:
    """What is left once the building and every silent charger are counted; a charger that
    does not answer is assumed at its maximum on every wired phase."""
    power_cap_a, label = INF, f"{site.grid_label} power"
    if site.power_limit_w is not None:
        power_cap_a = site.power_limit_w / site.nominal_voltage_v
        label = f"{site.grid_label} power {site.power_limit_w:g} W"
    budget = Budget.start(tree, power_cap_a, label)
    phase_limits = site.phase_limits_a
    for phase in range(PHASE_COUNT):
        if phase_limits is not None:
            budget.left[0][phase] = min(budget.left[0][phase], phase_limits[phase])
        budget.left[0][phase] -= building[phase]
    budget.power_left_a -= sum(building)
    for offer in silent:
        budget.take(offer.path, offer.demand.wiring, offer.demand.max_current_a)
    return budget


# The most an EV is counted over the most it may draw (``take_overdraw``), per phase, on a
# feeder (or on a grid with no reading): above its own tolerance and meter error, a reading is a
# broken meter or an EV that ignores its offer, and a broken meter reading high must not take
# its feeder's room from the others.
OVERDRAW_COUNTED_MAX_A = 2.0


def take_overdraw(
    budget: Budget, offers: Sequence[Offer], now_s: float, *, grid_read: bool
) -> list[str]:
    """Take from ``budget``, on its way up the tree, what each EV draws above the most it may
    draw (its previous offer, the one it still follows a lowering from, or the maximum a silent
    charger was counted at); return a note for each EV read more than
    ``OVERDRAW_COUNTED_MAX_A`` over it (a meter to check, or an EV ignoring its offer). An EV
    draws somewhat over its offer (its own tolerance, meter error), and the building is the grid
    less our measured draws: offers that filled the limit left the grid over it by that excess
    for good (two EVs 0.5 A over their 20 A offers held a 40 A grid at 41 A, every reading an
    overload). Counted here, the offers leave room for it.

    With a fresh grid reading (``grid_read``) the grid and its power limit count the whole
    excess. That is exact whether the EV draws it or its meter reads high: a meter X A high
    lowers the building (the grid less our measured draws) by X A, so the offers get the limit
    less the real building either way (a meter 10 A high beside a 31 A building on 63 A: 21 A
    and 10 A taken, 32 A offered, 63 A drawn). Where the building is held at 0 the meters read
    more than the grid, and the excess is counted on the safe side. A feeder has no meter of
    its own, nor has the grid without a reading: there a meter reading high would take the
    others' room, so the excess is counted at most ``OVERDRAW_COUNTED_MAX_A`` a phase (an EV
    really drawing more holds that limit over by the rest, and the note says so)."""
    notes: list[str] = []
    left = budget.left
    for offer in offers:  # (this runs for every connector on every decision)
        before = offer.before
        if before is None:
            continue  # no offer to be over: the first decision counts the building as read
        measured = offer.demand.measured_current_a
        if measured is None:
            continue
        allowed_a = before.current_a
        first, second, third = measured
        within_a = allowed_a + EPS_A
        if first <= within_a and second <= within_a and third <= within_a:
            continue  # the usual case
        # A charger silent before was counted at its maximum (``assumed_current_a``): it answers
        # again drawing what it was set to, or its watchdog's fallback, until it follows.
        allowed_a = max(allowed_a, before.assumed_current_a, offer.may_draw(now_s))
        demand = offer.demand
        if demand.state is DemandState.UNAVAILABLE:
            continue  # counted at its maximum already
        feeders = offer.path[:-1]  # (a path ends at the grid, node 0)
        most_a = 0.0
        for line, phase in enumerate(demand.wiring):
            excess_a = measured[line] - allowed_a
            if excess_a <= EPS_A:
                continue
            counted_a = min(excess_a, OVERDRAW_COUNTED_MAX_A)
            for node in feeders:
                left[node][phase] -= counted_a
            grid_a = excess_a if grid_read else counted_a
            left[0][phase] -= grid_a
            budget.power_left_a -= grid_a
            most_a = max(most_a, excess_a)
        if most_a > OVERDRAW_COUNTED_MAX_A + EPS_A:  # a broken meter, or an EV ignoring its offer
            counted = (
                "" if grid_read and not feeders else f"; counted at {OVERDRAW_COUNTED_MAX_A:g} A"
            )
            where = " on its feeders" if counted and grid_read else ""
            notes.append(
                f"{demand.connector_id} reads {most_a:.0f} A over its offer{counted}{where}"
            )
    return notes


def failsafe_problems(
    site: Site,
    demands: Sequence[ConnectorDemand],
    failsafe_current_a: Mapping[str, float],
    policy: Policy,
) -> list[str]:
    """Limits exceeded if every charger fell back to its failsafe current at once (daemon dead,
    grid meter lost) on top of the assumed building load. Empty when the fallback is safe."""
    tree = Tree.build(site)
    load = [[0.0] * PHASE_COUNT for _ in tree.nodes]
    load[0] = [policy.assumed_building_load_a] * PHASE_COUNT
    for demand in demands:
        amps = max(failsafe_current_a.get(demand.connector_id, 0.0), policy.fallback_current_a)
        for node in tree.path(demand.feeder):
            for phase in demand.wiring:
                load[node][phase] += amps
    return [
        f"{tree.label(node, phase)}: all at failsafe draw {load[node][phase]:g} A"
        for node in tree.nodes
        for phase in range(PHASE_COUNT)
        if load[node][phase] > tree.limits[node] + EPS_A
    ]
