"""Checks of a site split across gateways (``site.role`` parent or child): the budgets must be
able to add up, so that every child on its safe budget at once still keeps the grid limit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_controller.config.settings import Settings
from edge_controller.domain.balancing import wiring_from_rotation
from edge_controller.domain.model import Phases3

if TYPE_CHECKING:
    from edge_controller.config.checks import Findings

_GW = ("site", "gateways")


def gateway_checks(settings: Settings, out: Findings) -> None:
    role = settings.site.role
    if role != "standalone" and not settings.mqtt.enabled:
        out.errors.append(
            (("mqtt", "enabled"), f"site.role {role} exchanges budgets over MQTT: enable it")
        )
    if role == "parent":
        _parent_checks(settings, out)
    elif role == "child":
        _child_checks(settings, out)
    else:
        _standalone_checks(settings, out)


def _standalone_checks(settings: Settings, out: Findings) -> None:
    gateways = settings.site.gateways
    if gateways.children:
        out.errors.append(((*_GW, "children"), "children are for site.role parent"))
    for key in ("child_id", "safe_budget_a"):
        if getattr(gateways, key) is not None:
            out.errors.append(((*_GW, key), f"{key} is for site.role child"))


def _parent_checks(settings: Settings, out: Findings) -> None:
    site, gateways = settings.site, settings.site.gateways
    if not gateways.children:
        out.errors.append(((*_GW, "children"), "a parent needs at least one child gateway"))
    if settings.chargers:
        out.errors.append(
            (("chargers",), "a parent runs no chargers of its own: its children run them")
        )
    if not any(m.role == "grid" for m in settings.meters.values()):
        out.errors.append((("meters",), "a parent needs the grid meter (a meter with role grid)"))
    if gateways.child_id is not None or gateways.safe_budget_a is not None:
        out.errors.append(((*_GW, "child_id"), "child_id and safe_budget_a are for a child"))
    for cid, child in gateways.children.items():
        where = (*_GW, "children", cid)
        if cid in site.feeders:
            out.errors.append((where, f"'{cid}' is also a feeder under site.feeders"))
        if child.parent is not None and child.parent not in site.feeders:
            out.errors.append(
                ((*where, "parent"), f"feeder '{child.parent}' is not defined under site.feeders")
            )
        if child.safe_budget_a > child.limit_a:
            out.errors.append(
                (
                    (*where, "safe_budget_a"),
                    f"{child.safe_budget_a:g} A is above the child's feeder limit_a "
                    f"({child.limit_a:g} A)",
                )
            )
    _safe_budgets_fit(settings, out)


def _safe_budgets_fit(settings: Settings, out: Findings) -> None:
    """Every child on its safe budget at once (the parent gone, the broker gone) plus the
    assumed building load must fit the grid, each feeder above children and the power limit."""
    site, children = settings.site, settings.site.gateways.children
    safe_a = sum(c.safe_budget_a for c in children.values())
    building_a = site.assumed_building_load_a
    if safe_a + building_a > site.grid_limit_a:
        out.errors.append(
            (
                (*_GW, "children"),
                f"the children's safe budgets ({safe_a:g} A) and site.assumed_building_load_a "
                f"({building_a:g} A) exceed site.grid_limit_a ({site.grid_limit_a:g} A): with "
                "every child on its safe budget the grid would be overloaded",
            )
        )
    for fid, feeder in site.feeders.items():
        under = [cid for cid, c in children.items() if fid in settings.site.feeder_chain(c.parent)]
        total_a = sum(children[cid].safe_budget_a for cid in under)
        if total_a > feeder.limit_a:
            out.errors.append(
                (
                    ("site", "feeders", fid, "limit_a"),
                    f"{feeder.limit_a:g} A is below the safe budgets of the children on it "
                    f"({', '.join(under)}: {total_a:g} A)",
                )
            )
    if site.power_limit_w is not None:
        power_w = (3 * safe_a + 3 * building_a) * site.nominal_voltage_v
        if power_w > site.power_limit_w:
            out.errors.append(
                (
                    (*_GW, "children"),
                    f"the children's safe budgets and the assumed building load draw "
                    f"{power_w:g} W, above site.power_limit_w ({site.power_limit_w:g} W)",
                )
            )


def _child_checks(settings: Settings, out: Findings) -> None:
    site, gateways = settings.site, settings.site.gateways
    if gateways.children:
        out.errors.append(((*_GW, "children"), "children are for site.role parent"))
    if gateways.child_id is None:
        out.errors.append(((*_GW, "child_id"), "a child needs its name at the parent"))
    safe_a = gateways.safe_budget_a
    if safe_a is None:
        out.errors.append(
            ((*_GW, "safe_budget_a"), "a child needs the budget it uses without its parent's")
        )
        return
    if safe_a > site.grid_limit_a:
        out.errors.append(
            (
                (*_GW, "safe_budget_a"),
                f"{safe_a:g} A is above site.grid_limit_a ({site.grid_limit_a:g} A), the "
                "child's feeder",
            )
        )
    failsafe_a = failsafe_draw_a(settings)
    if max(failsafe_a) > safe_a:
        out.warnings.append(
            (
                (*_GW, "safe_budget_a"),
                f"if this child stops, its chargers fall back to their failsafe currents "
                f"({max(failsafe_a):g} A on a phase), above its safe budget ({safe_a:g} A), "
                "so its parent counts it at that much, always, once it has reported it; "
                "check-config with the parent's file refuses it above the parent's "
                "safe budget for it",
            )
        )


def failsafe_draw_a(settings: Settings) -> Phases3:
    """What a gateway's chargers draw per grid phase on their own fail-safe currents, every
    connector at once: where they stay if the daemon stops telling them (it crashed)."""
    draw_a = [0.0, 0.0, 0.0]
    for charger in settings.chargers.values():
        for phase in wiring_from_rotation(charger.phase_rotation):
            draw_a[phase] += charger.failsafe_current_a * charger.connectors
    return (draw_a[0], draw_a[1], draw_a[2])
