"""Where the simulator's control interface and the bench CSMS may listen.

Neither has authentication: whoever reaches them can plug EVs, inject faults or command the
charge point. So they listen on loopback only, unless the operator says a wider address is on
purpose (``--allow-remote``).
"""

from __future__ import annotations

import ipaddress

from edge_controller.sim.sim_site import SimStartError


class RemoteBindRefused(SimStartError):
    """A non-loopback listen address without ``allow_remote``: a usage error (exit 2)."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals; every other name counts as remote
    (an empty host or ``0.0.0.0`` means every interface)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, what: str, allow_remote: bool) -> None:
    """Refuse to listen beyond loopback unless ``allow_remote``."""
    if allow_remote or is_loopback(host):
        return
    raise RemoteBindRefused(
        f"{what} would listen on {host or 'every interface'!r}, reachable from other machines, "
        "and has no authentication; use a loopback address (127.0.0.1, ::1, localhost) or "
        "pass --allow-remote if that is on purpose"
    )
