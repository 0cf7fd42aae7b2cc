"""The parent's invariant: the building load plus what every child is counted at stays within
every limit of the tree (whenever the building load and the children's floors alone do)."""

from __future__ import annotations

from collections.abc import Mapping

from edge_controller.domain.balancing.tree import tree_of
from edge_controller.domain.gateways import ParentSetup
from edge_controller.domain.model import Phases3

SLACK_A = 1e-6


def load_per_node(
    setup: ParentSetup, building_a: Phases3, counted: Mapping[str, Phases3]
) -> list[list[float]]:
    tree = tree_of(setup.site)
    load = [[0.0, 0.0, 0.0] for _ in tree.nodes]
    load[0] = list(building_a)
    for cid, amounts in counted.items():
        for node in tree.path(cid):
            for p in range(3):
                load[node][p] += amounts[p]
    return load


def over_limits(
    setup: ParentSetup, building_a: Phases3, counted: Mapping[str, Phases3]
) -> list[str]:
    tree = tree_of(setup.site)
    load = load_per_node(setup, building_a, counted)
    found = [
        f"{tree.label(node, p)}: {load[node][p]:.3f} A"
        for node in tree.nodes
        for p in range(3)
        if load[node][p] > tree.limits[node] + SLACK_A
    ]
    power_w = setup.site.power_limit_w
    if power_w is not None and sum(load[0]) > power_w / setup.site.nominal_voltage_v + SLACK_A:
        found.append(f"power: {sum(load[0]) * setup.site.nominal_voltage_v:.0f} W")
    return found
