"""A CSMS limit reaches the balancer as an external limit, on the real site controller: a charger
identity's total is shared by its connectors, a site identity's total caps the grid connection."""

from __future__ import annotations

from edge_controller.domain.model import Limit
from edge_controller.services.control.csms_limits import CsmsLimits
from tests.unit.services.control.test_site_controller import make_rig

CHARGERS = {"c1": ("c1:1",), "c2": ("c2:1",), "site": ("c1:1", "c2:1")}


async def test_a_chargers_total_is_shared_by_its_connectors_and_never_exceeded() -> None:
    rig = make_rig(grid_limit_a=63.0)
    limits = CsmsLimits(rig.controller, lambda scope: CHARGERS[scope], site_wide=False)
    limits.set_external_limits("c2", {}, Limit(9.0, "csms profile 4"))
    await rig.advance(0)
    view = {c.connector_id: c for c in rig.controller.snapshot().connectors}
    assert view["c2:1"].offered_current_a == 9.0
    assert view["c2:1"].limit_reason == "csms profile 4 (shared)"
    assert view["c1:1"].offered_current_a > 9.0  # another charger's total is not c1's


async def test_a_site_identitys_total_caps_the_grid_connection() -> None:
    rig = make_rig(grid_limit_a=63.0)
    limits = CsmsLimits(rig.controller, lambda scope: CHARGERS[scope], site_wide=True)
    limits.set_external_limits("site", {"c1:1": Limit(6.0, "csms profile 7")}, Limit(20.0, "csms"))
    await rig.advance(0)
    offered = {c.connector_id: c.offered_current_a for c in rig.controller.snapshot().connectors}
    assert offered["c1:1"] == 6.0
    assert sum(offered.values()) <= 20.0
    limits.set_external_limits("site", {}, None)  # lifted: the grid limit again
    await rig.advance(10)
    assert sum(c.offered_a for c in rig.chargers) > 20.0
