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


# The most an EV is counted over the most it may draw (``take_overdraw``), per phase: above its
# own tolerance and meter error, a reading is a broken meter or an EV that ignores its offer, and
# a broken meter reading high must not take its feeder's room from the others.
OVERDRAW_COUNTED_MAX_A = 2.0


def take_overdraw(budget: Budget, offers: Sequence[Offer], now_s: float) -> None:
    """Take from ``budget``, on its way up the tree, what each EV draws above the most it may
    draw (its previous offer, the one it still follows a lowering from, or the maximum a silent
    charger was counted at), up to ``OVERDRAW_COUNTED_MAX_A`` on each of its phases. An EV
    draws somewhat over its offer (its own tolerance, meter error), and the building is the
    grid less our measured draws: offers that filled the limit left the grid over it by that
    excess for good (two EVs 0.5 A over their 20 A offers held a 40 A grid at 41 A, every
    reading an overload). Counted here, the offers leave room for it. On the grid, a meter
    reading high lowers the building as much as it adds here."""
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
        for line, phase in enumerate(demand.wiring):
            excess_a = min(measured[line] - allowed_a, OVERDRAW_COUNTED_MAX_A)
            if excess_a > EPS_A:
                budget.take(offer.path, (phase,), excess_a)


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
