"""What a connector shows (OCPP 1.6 ChargePointStatus) and which changes OCPP 1.6 allows. Pure.

``shown()`` joins the charger side's view (pilot state, offer, enabled, fault: the control
loop's ``Availability``) with the session side's phase: the session side knows whether a start
is being prepared (Preparing), a session has ended with the cable still in (Finishing) or a
connector is held (Reserved); the charger side knows what the EV and the hardware do.

``ALLOWED`` is the connector state table of OCPP 1.6 (section 4.9); ``path()`` is what to
report to go from one status to another without a change the table forbids, e.g. when a
charger stops answering while an EV waits (Preparing -> Unavailable is not in the table).
"""

from __future__ import annotations

from edge_controller.domain.sessions.state import Phase
from edge_controller.domain.snapshot import Availability

AV = Availability

# OCPP 1.6 section 4.9, row by row: from -> the statuses that may follow it.
ALLOWED: dict[Availability, frozenset[Availability]] = {
    AV.AVAILABLE: frozenset(
        {AV.PREPARING, AV.CHARGING, AV.SUSPENDED_EV, AV.SUSPENDED_EVSE, AV.RESERVED,
         AV.UNAVAILABLE, AV.FAULTED}
    ),
    AV.PREPARING: frozenset(
        {AV.AVAILABLE, AV.CHARGING, AV.SUSPENDED_EV, AV.SUSPENDED_EVSE, AV.FINISHING, AV.FAULTED}
    ),
    AV.CHARGING: frozenset(
        {AV.AVAILABLE, AV.SUSPENDED_EV, AV.SUSPENDED_EVSE, AV.FINISHING, AV.UNAVAILABLE,
         AV.FAULTED}
    ),
    AV.SUSPENDED_EV: frozenset(
        {AV.AVAILABLE, AV.CHARGING, AV.SUSPENDED_EVSE, AV.FINISHING, AV.UNAVAILABLE, AV.FAULTED}
    ),
    AV.SUSPENDED_EVSE: frozenset(
        {AV.AVAILABLE, AV.CHARGING, AV.SUSPENDED_EV, AV.FINISHING, AV.UNAVAILABLE, AV.FAULTED}
    ),
    AV.FINISHING: frozenset({AV.AVAILABLE, AV.PREPARING, AV.UNAVAILABLE, AV.FAULTED}),
    AV.RESERVED: frozenset({AV.AVAILABLE, AV.PREPARING, AV.UNAVAILABLE, AV.FAULTED}),
    AV.UNAVAILABLE: frozenset(
        {AV.AVAILABLE, AV.PREPARING, AV.CHARGING, AV.SUSPENDED_EV, AV.SUSPENDED_EVSE, AV.FAULTED}
    ),
    AV.FAULTED: frozenset(AV) - {AV.FAULTED},
}  # fmt: skip
# Tried in this order when a change needs a step between (see ``path``).
_BRIDGES = (AV.FINISHING, AV.PREPARING, AV.AVAILABLE)


def allowed(before: Availability, after: Availability) -> bool:
    """Whether OCPP 1.6 allows reporting ``after`` right after ``before`` (same: nothing new)."""
    return before is after or after in ALLOWED[before]


def path(before: Availability | None, after: Availability) -> tuple[Availability, ...]:
    """The statuses to report, in order, to go from ``before`` (None: nothing reported yet on
    this connection) to ``after``: ``after`` alone when the table allows it, else one status
    in between that leads there (every forbidden change has one)."""
    if before is None or allowed(before, after):
        return (after,)
    for bridge in _BRIDGES:
        if bridge not in (before, after) and allowed(before, bridge) and allowed(bridge, after):
            return (bridge, after)
    raise AssertionError(f"no way from {before.value} to {after.value}")  # the table has one


def shown(seen: Availability, phase: Phase, reserved: bool) -> Availability:
    """A connector's status from the charger side's view ``seen`` and the session ``phase``.

    ``reserved``: a live reservation holds this free connector."""
    if seen in (AV.FAULTED, AV.UNAVAILABLE):
        return seen  # the hardware's word wins
    if phase in (Phase.ACTIVE, Phase.RECOVERING):
        # A session is open: the EV charges, pauses or waits for an offer; the charger view may
        # lag by a poll (Preparing) while the session is already open.
        return AV.SUSPENDED_EVSE if seen is AV.PREPARING else seen
    if phase in (Phase.WAIT_AUTH, Phase.WAIT_PLUG, Phase.AUTHORIZING, Phase.OPENING):
        return AV.PREPARING
    if phase is Phase.FINISHED:
        return AV.FINISHING  # session over (or too late for a card), the cable still in
    return AV.RESERVED if reserved else AV.AVAILABLE
