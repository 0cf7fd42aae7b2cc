"""Independent checks of an allocation: recomputed here from the inputs, not with the code under
test, so a flaw in the allocator's own accounting cannot hide itself."""

from __future__ import annotations

from collections.abc import Sequence

from edge_controller.domain.balancing import (
    Allocation,
    ConnectorDemand,
    DemandState,
    Site,
)

TOL_A = 1e-6


def _subtree(site: Site, node: str | None) -> set[str | None]:
    """Feeder ids at or below ``node`` (None is the grid connection: everything)."""
    members: set[str | None] = {node}
    grew = True
    while grew:
        grew = False
        for feeder in site.feeders:
            if feeder.parent in members and feeder.id not in members:
                members.add(feeder.id)
                grew = True
    return members


def _limits(site: Site) -> list[tuple[str | None, float]]:
    return [(None, site.grid_limit_a)] + [(f.id, f.limit_a) for f in site.feeders]


def node_loads(
    site: Site,
    demands: Sequence[ConnectorDemand],
    alloc: Allocation,
    node: str | None,
    offers_only: bool = False,
) -> list[float]:
    """Per grid phase: building (grid only) + silent chargers at max + offers, below ``node``."""
    below = _subtree(site, node)
    loads = list(alloc.building_load_a) if node is None else [0.0, 0.0, 0.0]
    if offers_only:
        loads = [0.0, 0.0, 0.0]
    for demand in demands:
        if demand.feeder not in below:
            continue
        if demand.state is DemandState.UNAVAILABLE:
            for phase in demand.wiring:
                loads[phase] += 0.0 if offers_only else demand.max_current_a
            continue
        offer = alloc.current_a(demand.connector_id)
        for phase in demand.grid_phases:
            loads[phase] += offer
    return loads


def limits_exceeded(site: Site, demands: Sequence[ConnectorDemand], alloc: Allocation) -> list[str]:
    """Limits exceeded with our offers taking part (a building that alone exceeds the connection
    is not ours to fix, but then we must offer nothing there)."""
    problems = []
    for node, limit in _limits(site):
        ours = node_loads(site, demands, alloc, node, offers_only=True)
        for phase, load in enumerate(node_loads(site, demands, alloc, node)):
            if load > limit + TOL_A and ours[phase] > 0:
                problems.append(f"{node or 'grid'} L{phase + 1}: {load} A > {limit} A")
    if site.power_limit_w is not None:
        total_a = sum(node_loads(site, demands, alloc, None))
        ours_a = sum(node_loads(site, demands, alloc, None, offers_only=True))
        too_much = total_a * site.nominal_voltage_v > site.power_limit_w + TOL_A * 1000
        if too_much and ours_a > 0:
            problems.append(f"power {total_a * site.nominal_voltage_v} W > {site.power_limit_w}")
    return problems


def offers_out_of_range(demands: Sequence[ConnectorDemand], alloc: Allocation) -> list[str]:
    """Every offer is 0 or within [min, own cap]; connectors that may not charge get 0."""
    problems = []
    for demand in demands:
        offer = alloc.current_a(demand.connector_id)
        cap = min([demand.max_current_a] + [lim.current_a for lim in demand.limits])
        if offer == 0:
            continue
        if not demand.state.wants_current or not demand.enabled:
            problems.append(f"{demand.connector_id}: {offer} A while {demand.state.value}")
        if offer < demand.min_current_a - TOL_A or offer > cap + TOL_A:
            problems.append(f"{demand.connector_id}: {offer} A outside [min, {cap}]")
    return problems


def check_all(site: Site, demands: Sequence[ConnectorDemand], alloc: Allocation) -> None:
    problems = limits_exceeded(site, demands, alloc) + offers_out_of_range(demands, alloc)
    assert not problems, problems
    assert not any("safety check" in note for note in alloc.notes), alloc.notes
