"""The CSMS's charging-profile limits as the control loop takes them: external limits of the
balancer, never setpoints."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from edge_controller.domain.model import Limit
from edge_controller.services.control.site_controller import SiteController


class CsmsLimits:
    """A total for a site-wide identity caps the grid connection; a total for one charger's
    identity is shared equally by its connectors (safe: the sum never exceeds it).

    ``connectors_of``: the connectors an identity (a limit's ``scope``) stands for;
    ``site_wide``: one identity stands for the whole site."""

    def __init__(
        self,
        controller: SiteController,
        connectors_of: Callable[[str], Sequence[str]],
        site_wide: bool,
    ) -> None:
        self._controller, self._connectors_of, self._site_wide = (
            controller,
            connectors_of,
            site_wide,
        )

    def set_external_limits(
        self, scope: str, connectors: Mapping[str, Limit], total: Limit | None
    ) -> None:
        ids = self._connectors_of(scope)
        for cid in ids:
            limits = [connectors[cid]] if cid in connectors else []
            if total is not None and not self._site_wide:
                limits.append(Limit(total.current_a / len(ids), f"{total.source} (shared)"))
            self._controller.set_external_limits(cid, limits)
        if self._site_wide:
            self._controller.set_site_cap(total)
