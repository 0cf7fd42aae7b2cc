"""The configs of a parent gateway and its children checked against each other (``check-config
PARENT CHILD...``): each file is valid on its own, but the grid holds through a lost parent only
if every child falls back to no more than its parent counts it at, and a child is counted at
all only if the parent knows it and both use the same topics.

Each problem names the file and the key to fix (the child's, where the child disagrees with
its parent: the parent's config is the one that adds the safe budgets up against the grid).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge_controller.config.gateway_checks import failsafe_draw_a
from edge_controller.config.settings import Settings
from edge_controller.domain.gateways import DEMAND_DELAY_S

PathKey = tuple[str, ...]
_GW = ("site", "gateways")


@dataclass(frozen=True, slots=True)
class GatewayFile:
    source: str  # the file's name as given
    settings: Settings


@dataclass(frozen=True, slots=True)
class FileProblem:
    source: str
    key: PathKey
    reason: str


def cross_checks(files: Sequence[GatewayFile]) -> list[FileProblem]:
    """The problems between the files: one of them the parent, the others its children."""
    parents = [f for f in files if f.settings.site.role == "parent"]
    problems = [
        FileProblem(f.source, ("site", "role"), f"{f.settings.site.role}: several files are "
                    "checked together as one parent and its children")
        for f in files
        if f.settings.site.role == "standalone"
    ]  # fmt: skip
    if len(parents) != 1:
        reason = f"{len(parents)} files with site.role parent: give exactly one with its children"
        # Each parent named (the installer picks which one stays); with none, the first file.
        named = parents or files[:1]
        return [*problems, *(FileProblem(f.source, ("site", "role"), reason) for f in named)]
    parent = parents[0]
    seen: dict[str, str] = {}
    for child in files:
        if child.settings.site.role != "child":
            continue
        problems += _child_against(parent, child)
        cid = child.settings.site.gateways.child_id
        if cid is not None and cid in seen:
            problems.append(
                FileProblem(child.source, (*_GW, "child_id"), f"{cid} is also {seen[cid]}'s")
            )
        elif cid is not None:
            seen[cid] = child.source
    return problems


def _child_against(parent: GatewayFile, child: GatewayFile) -> list[FileProblem]:
    mine, theirs = child.settings, parent.settings
    gw, parent_gw = mine.site.gateways, theirs.site.gateways
    problems: list[FileProblem] = []

    def problem(key: PathKey, reason: str) -> None:
        problems.append(FileProblem(child.source, key, reason))

    if gw.topic_prefix != parent_gw.topic_prefix:
        problem(
            (*_GW, "topic_prefix"),
            f"{gw.topic_prefix!r} is not the parent's ({parent_gw.topic_prefix!r} in "
            f"{parent.source}): they would not hear each other",
        )
    cid = gw.child_id
    configured = parent_gw.children.get(cid) if cid is not None else None
    if cid is None or configured is None:
        known = ", ".join(parent_gw.children) or "none"
        problem(
            (*_GW, "child_id"),
            f"{cid} is not a child of the parent in {parent.source} (its children: {known}): it "
            "would get no budget and not be counted",
        )
        return problems
    parent_key = f"site.gateways.children.{cid}.safe_budget_a"
    if gw.safe_budget_a is not None and gw.safe_budget_a > configured.safe_budget_a:
        problem(
            (*_GW, "safe_budget_a"),
            f"{gw.safe_budget_a:g} A is above the {configured.safe_budget_a:g} A the parent "
            f"counts this child at ({parent_key} in {parent.source}): without its parent it "
            "would draw more than counted, overloading the grid just when the parent is lost",
        )
    failsafe_a = max(failsafe_draw_a(mine))
    if failsafe_a > configured.safe_budget_a:
        # Named at the child's first charger: its fail-safe current is what adds up.
        first = next(iter(mine.chargers))
        problem(
            ("chargers", first, "failsafe_current_a"),
            f"this child's chargers draw {failsafe_a:g} A on a phase on their fail-safe "
            f"currents, above the {configured.safe_budget_a:g} A the parent counts it at "
            f"({parent_key} in {parent.source}): if this child stops, they stay there and the "
            "grid may go over its limit; lower their failsafe_current_a or raise the parent's",
        )
    if mine.site.grid_limit_a > configured.limit_a:
        problem(
            ("site", "grid_limit_a"),
            f"{mine.site.grid_limit_a:g} A is above the limit of this child's feeder at the "
            f"parent ({configured.limit_a:g} A, site.gateways.children.{cid}.limit_a in "
            f"{parent.source})",
        )
    if gw.report_interval_s + DEMAND_DELAY_S >= parent_gw.report_stale_s:
        problem(
            (*_GW, "report_interval_s"),
            f"{gw.report_interval_s:g} s and the {DEMAND_DELAY_S:g} s a report may take reach the "
            f"parent's site.gateways.report_stale_s ({parent_gw.report_stale_s:g} s in "
            f"{parent.source}): the parent would take this child for silent between reports",
        )
    if gw.clock_tolerance_s > parent_gw.clock_tolerance_s:
        problem(
            (*_GW, "clock_tolerance_s"),
            f"{gw.clock_tolerance_s:g} s is above the parent's ({parent_gw.clock_tolerance_s:g} "
            f"s in {parent.source}): this child would hold a budget longer than it is counted",
        )
    follow_s = mine.site.tick_s + mine.site.decrease_settle_s
    counted_s = theirs.site.tick_s + theirs.site.decrease_settle_s
    if follow_s > counted_s:
        problem(
            ("site", "decrease_settle_s"),
            f"this child's EVs follow a lowering within site.tick_s + decrease_settle_s = "
            f"{follow_s:g} s, the parent counts a lowered budget for {counted_s:g} s (the same "
            f"keys in {parent.source}): it would stop counting the higher one too soon",
        )
    return problems
