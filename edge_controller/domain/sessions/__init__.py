"""Sessions, pure: the per-connector state machine (``state``), authorization decisions,
reservations, which connector a tap belongs to (``tap_routing``), token normalisation
(``tokens``) and what a connector shows (``connector_status``). Time is an argument.
"""

from edge_controller.domain.commands import StopReason
from edge_controller.domain.sessions.authorization import (
    AuthDecision,
    AuthEntry,
    AuthPolicy,
    AuthResult,
    AuthStatus,
    decide,
    pre_authorize,
)
from edge_controller.domain.sessions.connector_status import shown
from edge_controller.domain.sessions.reservations import (
    Reservation,
    ReserveAnswer,
    decide_reserve,
    reservation_allows,
)
from edge_controller.domain.sessions.state import (
    Authorization,
    Phase,
    SessionState,
    Timeouts,
    may_start,
    recovering,
    transition,
)
from edge_controller.domain.sessions.tap_routing import (
    ConnectorActivity,
    PendingTap,
    TapRoute,
    claim_for_plug,
    route_tap,
)
from edge_controller.domain.sessions.tokens import (
    InvalidToken,
    masked,
    normalize_id_tag,
    uid_to_token,
)

__all__ = [
    "AuthDecision",
    "AuthEntry",
    "AuthPolicy",
    "AuthResult",
    "AuthStatus",
    "Authorization",
    "ConnectorActivity",
    "InvalidToken",
    "PendingTap",
    "Phase",
    "Reservation",
    "ReserveAnswer",
    "SessionState",
    "StopReason",
    "TapRoute",
    "Timeouts",
    "claim_for_plug",
    "decide",
    "decide_reserve",
    "masked",
    "may_start",
    "normalize_id_tag",
    "pre_authorize",
    "recovering",
    "reservation_allows",
    "route_tap",
    "shown",
    "transition",
    "uid_to_token",
]
