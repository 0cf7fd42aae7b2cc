"""Per-connector session state machine: ``transition(state, event, now_s) -> (state, actions)``.

A session starts once the EV is plugged *and* charging is authorised, in either order; the
second step must come within a timeout. A start command first *claims* the connector
(``Claimed``: nobody else may start there) while its id tag is authorised, then the answer
(``ClaimAnswered``) grants it or lets the connector go. It stops on a card, a remote or local
command, the EV leaving, a charger fault, deauthorisation, shutdown or power loss, each with its
OCPP 1.6 reason.

Opening and closing a session are *actions*: the caller records them durably and then reports
back with ``Opened`` / ``OpenFailed``. Charging is allowed only after the session is recorded.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from edge_controller.domain.commands import Origin, StopReason


class Phase(enum.Enum):
    IDLE = "idle"  # no EV, no authorisation
    WAIT_AUTH = "wait_auth"  # EV plugged, waiting for a card or command
    WAIT_PLUG = "wait_plug"  # authorised, waiting for the EV
    AUTHORIZING = "authorizing"  # a start holds the connector while its id tag is checked
    OPENING = "opening"  # both present; the session is being recorded
    ACTIVE = "active"  # session open, charging allowed
    RECOVERING = "recovering"  # open session found at start-up; waiting for the charger state
    FINISHED = "finished"  # session closed, EV still plugged; unplug to start over


# Where an EV is plugged in and no session runs yet, but one may still start without a new
# plug-in (a transaction begun at the plug-in lasts through them).
PLUGGED_WAITING = frozenset({Phase.WAIT_AUTH, Phase.AUTHORIZING, Phase.OPENING})


@dataclass(frozen=True, slots=True)
class Authorization:
    id_tag: str
    source: str = "local"  # "local" card/command, "remote" CSMS, "free" vend
    parent_id_tag: str | None = None
    offline: bool = False
    energy_cap_wh: int | None = None
    reservation_id: int | None = None  # the reservation this start uses (OCPP reservationId)
    remote_start_id: int | None = None  # the CSMS's id of the remote start (OCPP 2.x)
    key_code: bool = False  # the CSMS's start gave the id tag as a KeyCode token (OCPP 2.x)


@dataclass(frozen=True, slots=True)
class SessionState:
    phase: Phase = Phase.IDLE
    plugged: bool = False
    auth: Authorization | None = None
    deadline_s: float | None = None
    local_id: int | None = None
    pending_stop: StopReason | None = None  # asked to stop while the session was being recorded


# Events --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChargerSeen:
    plugged: bool
    fault: bool = False


@dataclass(frozen=True, slots=True)
class Authorized:
    auth: Authorization


@dataclass(frozen=True, slots=True)
class Claimed:
    """A start takes the connector; ``auth`` is what it asks for, not yet authorised."""

    auth: Authorization


@dataclass(frozen=True, slots=True)
class ClaimAnswered:
    """The authorisation of the claim ``claimed``: ``granted`` (None: refused)."""

    claimed: Authorization
    granted: Authorization | None


@dataclass(frozen=True, slots=True)
class StopRequested:
    reason: StopReason
    id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class Opened:
    local_id: int


@dataclass(frozen=True, slots=True)
class OpenFailed:
    error: str


@dataclass(frozen=True, slots=True)
class Tick:
    pass


Event = (
    ChargerSeen | Authorized | Claimed | ClaimAnswered | StopRequested | Opened | OpenFailed | Tick
)


# Actions -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OpenSession:
    auth: Authorization


@dataclass(frozen=True, slots=True)
class CloseSession:
    local_id: int
    reason: StopReason
    id_tag: str | None = None
    use_last_known_meter: bool = False  # power loss: the charger cannot be asked any more


@dataclass(frozen=True, slots=True)
class AllowCharging:
    allowed: bool


Action = OpenSession | CloseSession | AllowCharging


@dataclass(frozen=True, slots=True)
class Timeouts:
    plug_timeout_s: float = 60.0  # card/command first: the EV must follow within this
    auth_timeout_s: float | None = None  # EV first: None waits for a card indefinitely
    claim_timeout_s: float = 30.0  # a claim never answered lets the connector go after this


def recovering(local_id: int) -> SessionState:
    """The state of a connector whose session was open when the daemon last stopped."""
    return SessionState(phase=Phase.RECOVERING, local_id=local_id)


def transition(
    state: SessionState, event: Event, now_s: float, timeouts: Timeouts = Timeouts()
) -> tuple[SessionState, tuple[Action, ...]]:
    if isinstance(event, ChargerSeen):
        return _on_charger(state, event, now_s, timeouts)
    if isinstance(event, Authorized):
        return _on_authorized(state, event.auth, now_s, timeouts)
    if isinstance(event, Claimed | ClaimAnswered):
        return _on_claim(state, event, now_s, timeouts)
    if isinstance(event, StopRequested) and state.phase is Phase.AUTHORIZING:
        return _waiting(state.plugged, None, now_s, timeouts), ()
    if isinstance(event, StopRequested) and state.phase is Phase.WAIT_AUTH:
        # The transaction begun at the plug-in was stopped (by the CSMS): no session starts
        # without a new plug-in.
        return SessionState(Phase.FINISHED, True), ()
    if isinstance(event, StopRequested):
        return _stop(state, event.reason, event.id_tag)
    if isinstance(event, Opened) and state.phase is Phase.OPENING:
        active = replace(state, phase=Phase.ACTIVE, local_id=event.local_id, pending_stop=None)
        if state.pending_stop is not None:
            return _stop(active, state.pending_stop, None)
        return active, (AllowCharging(True),)
    if isinstance(event, OpenFailed) and state.phase is Phase.OPENING:
        return _waiting(state.plugged, None, now_s, timeouts), (AllowCharging(False),)
    if isinstance(event, Tick):
        return _on_tick(state, now_s, timeouts)
    return state, ()


def may_start(state: SessionState, id_tag: str) -> bool:
    """Whether a start for ``id_tag`` may take this connector: it is free, or an EV waits
    there for authorisation; one already waiting for a plug only for the same id tag (again)."""
    if state.phase is Phase.IDLE:
        return not state.plugged
    if state.phase is Phase.WAIT_PLUG and state.auth is not None:
        return state.auth.id_tag.upper() == id_tag.upper()
    return state.phase is Phase.WAIT_AUTH


def needs_authorization(origin: Origin, authorize_first: bool) -> bool:
    """The one authorization rule of every start command: its id tag is authorised here
    (local list, cache, CSMS, offline rules) unless the CSMS sent it (RemoteStartTransaction,
    authorised there) and did not ask for it again (``authorize_first``), or it is the start of
    an approved card pre-authorisation (the terminal authorised it)."""
    if origin is Origin.PAYMENT_TERMINAL:
        return False
    return authorize_first or origin is not Origin.CSMS


def _waiting(
    plugged: bool, auth: Authorization | None, now_s: float, timeouts: Timeouts
) -> SessionState:
    if plugged and auth is None:
        limit = timeouts.auth_timeout_s
        return SessionState(Phase.WAIT_AUTH, True, None, None if limit is None else now_s + limit)
    if auth is not None and not plugged:
        return SessionState(Phase.WAIT_PLUG, False, auth, now_s + timeouts.plug_timeout_s)
    return SessionState(Phase.IDLE, plugged)


def _on_charger(
    state: SessionState, seen: ChargerSeen, now_s: float, timeouts: Timeouts
) -> tuple[SessionState, tuple[Action, ...]]:
    phase = state.phase
    if phase is Phase.RECOVERING and state.local_id is not None:
        if seen.plugged and not seen.fault:
            return replace(state, phase=Phase.ACTIVE, plugged=True), (AllowCharging(True),)
        return SessionState(plugged=seen.plugged), (
            CloseSession(state.local_id, StopReason.POWER_LOSS, use_last_known_meter=True),
            AllowCharging(False),
        )
    if phase is Phase.AUTHORIZING:
        return replace(state, plugged=seen.plugged), ()
    if phase in (Phase.ACTIVE, Phase.OPENING):
        if seen.fault:
            return _stop(replace(state, plugged=seen.plugged), StopReason.OTHER, None)
        if not seen.plugged:
            return _stop(replace(state, plugged=False), StopReason.EV_DISCONNECTED, None)
        # The same state when nothing changed: every status read of a charging EV comes here.
        return (state, ()) if state.plugged else (replace(state, plugged=True), ())
    if phase is Phase.FINISHED:
        return (state, ()) if seen.plugged else (SessionState(), ())
    if seen.plugged == state.plugged:
        return state, ()
    if seen.plugged and state.auth is not None and not seen.fault:
        return _open(state.auth, now_s)
    return _waiting(seen.plugged, state.auth if seen.plugged else None, now_s, timeouts), ()


def _on_authorized(
    state: SessionState, auth: Authorization, now_s: float, timeouts: Timeouts
) -> tuple[SessionState, tuple[Action, ...]]:
    if state.phase in (Phase.IDLE, Phase.WAIT_PLUG):
        return _waiting(False, auth, now_s, timeouts), ()
    if state.phase is Phase.WAIT_AUTH:
        return _open(auth, now_s)
    return state, ()


def _on_claim(
    state: SessionState, event: Claimed | ClaimAnswered, now_s: float, timeouts: Timeouts
) -> tuple[SessionState, tuple[Action, ...]]:
    if isinstance(event, Claimed):
        if not may_start(state, event.auth.id_tag):
            return state, ()
        deadline_s = now_s + timeouts.claim_timeout_s
        return SessionState(Phase.AUTHORIZING, state.plugged, event.auth, deadline_s), ()
    if state.phase is not Phase.AUTHORIZING or state.auth != event.claimed:
        return state, ()  # an answer for a claim given up meanwhile
    if event.granted is None:
        return _waiting(state.plugged, None, now_s, timeouts), ()
    if state.plugged:
        return _open(event.granted, now_s)
    return _waiting(False, event.granted, now_s, timeouts), ()


def _open(auth: Authorization, now_s: float) -> tuple[SessionState, tuple[Action, ...]]:
    del now_s
    return SessionState(Phase.OPENING, True, auth), (OpenSession(auth),)


def _stop(
    state: SessionState, reason: StopReason, id_tag: str | None
) -> tuple[SessionState, tuple[Action, ...]]:
    if state.phase in (Phase.ACTIVE, Phase.RECOVERING) and state.local_id is not None:
        after = SessionState(Phase.FINISHED, True) if state.plugged else SessionState()
        return after, (CloseSession(state.local_id, reason, id_tag), AllowCharging(False))
    if state.phase is Phase.OPENING:
        # Not recorded yet: it is closed as soon as ``Opened`` arrives.
        return replace(state, pending_stop=reason), (AllowCharging(False),)
    if state.phase is Phase.WAIT_PLUG:
        return SessionState(), ()
    return state, ()


def _on_tick(
    state: SessionState, now_s: float, timeouts: Timeouts
) -> tuple[SessionState, tuple[Action, ...]]:
    if state.deadline_s is None or now_s < state.deadline_s:
        return state, ()
    if state.phase is Phase.WAIT_PLUG:
        return SessionState(), ()
    if state.phase is Phase.AUTHORIZING:
        return _waiting(state.plugged, None, now_s, timeouts), ()
    if state.phase is Phase.WAIT_AUTH:
        # Too late for a card: the EV must be re-plugged to start a session.
        return SessionState(Phase.FINISHED, True), ()
    return state, ()
