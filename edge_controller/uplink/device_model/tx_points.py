"""Which TxStartPoint and TxStopPoint values the site honours. Pure.

By default the session side starts a session once it is both authorised and plugged in,
whichever comes last, which 2.0.1 calls PowerPathClosed. With EVConnected among the start
points a transaction starts at the plug-in instead, with Authorized at the authorisation, and
the session joins it once both are there (``services.sessions.early``); an EV that leaves
unauthorised, or an authorisation whose EV never comes, ends it. A session ends when either
is lost: the EV leaves, or its authorisation ends (a card, a stop command, an invalid id
token), and with EnergyTransfer among the stop points also when its EV stops drawing energy
after it drew some. With EVConnected or Authorized alone, the transaction outlives a session
ended otherwise: it ends when the EV leaves, or when the authorisation ends (the EV leaving
ends it as well, StopTxOnEVSideDisconnect being true). A start point list starts a
transaction at the first of its points, a stop point list ends it at the first one lost, so
only the lists meaning just that are taken; any other is refused with the reason, not stored
and then silently not followed.
"""

from __future__ import annotations

# The TxStartPoint/TxStopPoint members 2.0.1 defines (the values_list of both variables).
TX_POINTS = (
    "ParkingBayOccupancy",
    "EVConnected",
    "Authorized",
    "DataSigned",
    "PowerPathClosed",
    "EnergyTransfer",
)
START_POINT_DEFAULT = "PowerPathClosed"
STOP_POINT_DEFAULT = "EVConnected,Authorized"
_START_DOES = (
    "a session starts when it is authorised and plugged in (PowerPathClosed),"
    " or its transaction at the plug-in (EVConnected) or the authorisation (Authorized)"
)
_STOP_DOES = (
    "a session ends when the EV leaves or its authorisation ends"
    " (with EnergyTransfer also when its EV stops drawing energy;"
    " with EVConnected or Authorized alone its transaction ends with that one)"
)

# Stop point lists taken as they are: either lost ends it, or (alone) only that one.
_TAKEN_STOPS = ({"EVConnected", "Authorized"}, {"EVConnected"}, {"Authorized"})


def _members(value: str) -> set[str]:
    return {item.strip() for item in value.split(",") if item.strip()}


def why_not_start_point(value: str) -> str:
    """Why the site cannot start transactions at ``value`` ("": it does so already)."""
    members = _members(value)
    # PowerPathClosed needs both: with EVConnected or Authorized, one of those comes first.
    if members and members <= {"PowerPathClosed", "EVConnected", "Authorized"}:
        return ""
    return f"not supported: {_START_DOES}"


def why_not_stop_point(value: str) -> str:
    """Why the site cannot end transactions at ``value`` ("": it does so already)."""
    members = _members(value)
    if "EnergyTransfer" in members:
        # The energy stops as well when the EV leaves or its authorisation ends: with it, a
        # session also ends when its EV stops drawing energy (after it drew some).
        members = (members - {"EnergyTransfer", "EVConnected", "Authorized"}) or {"PowerPathClosed"}
    others = members - {"EVConnected", "Authorized", "PowerPathClosed"}
    if others:
        return f"{', '.join(sorted(others))} not supported: {_STOP_DOES}"
    if "PowerPathClosed" in members or members in _TAKEN_STOPS:
        return ""
    return f"not supported: {_STOP_DOES} (EVConnected,Authorized)"
