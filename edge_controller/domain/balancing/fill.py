"""Water-filling over the limit tree, on per-connector columns.

One decision keeps its working values as columns indexed by connector (``Columns``): a thousand
connectors cost a few lists instead of a thousand small objects. ``fill`` raises a set of members
from their floors together; the lowest binding constraint caps its members first.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_controller.domain.balancing.tree import INF, POWER, Budget, Tree, level_of
from edge_controller.domain.balancing.types import EPS_A, PHASE_COUNT, ConnectorAllocation


@dataclass(slots=True)
class Columns:
    """Per-connector working values of one decision. ``reason`` starts as the cap that bounds
    the connector and ends as the reason for its offer."""

    paths: list[tuple[int, ...]]  # the connector's node in the tree, its parent, ..., the grid
    phases: list[tuple[int, ...]]  # grid phases its EV loads
    before: list[ConnectorAllocation | None]
    before_a: list[float]
    floor_a: list[float]
    ceiling_a: list[float]
    reason: list[str]
    offer_a: list[float]
    settling: bool = False  # some connector's EV may still follow an earlier lowering

    @classmethod
    def blank(cls, count: int) -> Columns:
        """Columns for ``count`` connectors, to be filled in by index: no previous allocation,
        nothing offered."""
        zeros = [0.0] * count
        return cls(
            [()] * count,
            [()] * count,
            [None] * count,
            zeros[:],
            zeros[:],
            zeros[:],
            [""] * count,
            zeros,
        )


def fill(tree: Tree, budget: Budget, cols: Columns, members: list[int]) -> None:
    """Raise every member's level equally from its floor (already taken from ``budget``),
    bottom-up through the tree; each constraint that binds caps its members at its water level
    and names itself as their reason."""
    if not _may_bind(tree, budget, cols, members):
        return  # the usual case: every member keeps its ceiling
    groups: list[list[list[int]]] = [[[], [], []] for _ in tree.labels]
    paths, phases = cols.paths, cols.phases
    for index in members:
        wired = phases[index]
        for node in paths[index]:
            row = groups[node]
            for phase in wired:
                row[phase].append(index)
    power = bool(members) and budget.power_left_a < INF
    for node in tree.bottom_up:
        row = groups[node]
        with_power = power and node == 0
        if not with_power and not (row[0] or row[1] or row[2]):
            continue
        binds = _binds(cols, row, budget.left[node])
        if binds or (with_power and _power_binds(cols, members, budget.power_left_a)):
            pending = {key: group for key, group in enumerate(row) if group}
            if with_power:
                pending[POWER] = list(members)
            _settle_node(tree, budget, cols, node, pending)


def _may_bind(tree: Tree, budget: Budget, cols: Columns, members: list[int]) -> bool:
    """False only if no constraint can bind: each one's sum of (ceiling - floor) over its
    members is within its headroom (``within``: one pass instead of a list per node and phase)."""
    ceiling, floor = cols.ceiling_a, cols.floor_a
    heights = [ceiling[i] - floor[i] for i in members]
    return not within(tree, budget, cols, (members, heights), EPS_A)


def within(
    tree: Tree,
    budget: Budget,
    cols: Columns,
    loads: tuple[list[int], list[float]],
    allowance_a: float,
) -> bool:
    """True if the loads (connectors and their currents), summed for every constraint, leave
    more than ``-allowance_a`` of each headroom in ``budget`` (and some grid power), also after
    any rounding that summing in another order than the allocation steps may cost."""
    members, amounts = loads
    paths, phases = cols.paths, cols.phases
    own = [[0.0, 0.0, 0.0] for _ in tree.labels]
    phase_amps = magnitude = 0.0
    for index, amount_a in zip(members, amounts, strict=True):
        wired, row = phases[index], own[paths[index][0]]
        for phase in wired:
            row[phase] += amount_a
        phase_amps += amount_a * len(wired)
        magnitude += abs(amount_a)
    ulps = 3e-15 * (len(members) + 1)  # relative rounding of sums over that many terms
    left, parents = budget.left, tree.parents
    for node in tree.bottom_up:  # children first: each adds its sums to its parent's
        row, limit = own[node], left[node]
        for phase in range(PHASE_COUNT):
            rounding_a = ulps * (magnitude + abs(limit[phase]) + 1.0)
            if not row[phase] <= limit[phase] + allowance_a - rounding_a:
                return False
        if parents[node] >= 0:
            up = own[parents[node]]
            up[0] += row[0]
            up[1] += row[1]
            up[2] += row[2]
    cap_a = budget.power_left_a
    if not members or not cap_a < INF:
        return True
    rounding_a = ulps * (PHASE_COUNT * magnitude + abs(cap_a) + 1.0)
    return cap_a > 0 and phase_amps <= cap_a + allowance_a - rounding_a


def _binds(cols: Columns, row: list[list[int]], left: list[float]) -> bool:
    """Whether a phase of this node may bind: the cheap first test of ``level_of``, so a node
    where nothing binds (the usual case) costs one sum per phase."""
    ceiling, floor = cols.ceiling_a, cols.floor_a
    for phase, group in enumerate(row):
        if group and not sum([ceiling[i] - floor[i] for i in group]) <= left[phase] + EPS_A:
            return True
    return False


def _power_binds(cols: Columns, members: list[int], cap_a: float) -> bool:
    if cap_a <= 0:
        return True
    ceiling, floor, phases = cols.ceiling_a, cols.floor_a, cols.phases
    phase_amps = sum([len(phases[i]) * (ceiling[i] - floor[i]) for i in members])
    return not phase_amps <= cap_a + EPS_A


def _settle_node(
    tree: Tree, budget: Budget, cols: Columns, node: int, pending: dict[int, list[int]]
) -> None:
    # The lowest water level binds first; freezing its members can only raise the others, so a
    # constraint that does not bind now never will.
    ceiling, floor, reasons = cols.ceiling_a, cols.floor_a, cols.reason
    while pending:
        levels = {key: _level(budget, cols, node, key, group) for key, group in pending.items()}
        key = min(levels, key=lambda k: (levels[k], k))
        level = levels[key]
        if level == INF:
            return
        reason = budget.power_label if key == POWER else tree.label(node, key)
        for index in pending.pop(key):
            if level < ceiling[index] - EPS_A:
                ceiling[index] = max(level, floor[index])
                reasons[index] = reason
        for other in [k for k, value in levels.items() if value == INF]:
            del pending[other]


def _level(budget: Budget, cols: Columns, node: int, key: int, group: list[int]) -> float:
    floors = [cols.floor_a[i] for i in group]
    ceilings = [cols.ceiling_a[i] for i in group]
    if key == POWER:
        weights = [len(cols.phases[i]) for i in group]
        return level_of(floors, ceilings, weights, budget.power_left_a)
    return level_of(floors, ceilings, None, budget.left[node][key])
