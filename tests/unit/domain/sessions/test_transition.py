"""The session state machine, step by step (pure: no storage, no clock)."""

from __future__ import annotations

from edge_controller.domain.commands import StopReason
from edge_controller.domain.sessions.state import (
    AllowCharging,
    Authorization,
    Authorized,
    ChargerSeen,
    CloseSession,
    Opened,
    OpenFailed,
    OpenSession,
    Phase,
    SessionState,
    StopRequested,
    Tick,
    Timeouts,
    recovering,
    transition,
)

AUTH = Authorization("TAG1")
T = Timeouts(plug_timeout_s=60.0, auth_timeout_s=120.0)


def run(
    state: SessionState, *events: object, now_s: float = 0.0
) -> tuple[SessionState, list[object]]:
    actions: list[object] = []
    for event in events:
        state, done = transition(state, event, now_s, T)  # type: ignore[arg-type]
        actions.extend(done)
    return state, actions


def active(local_id: int = 7) -> SessionState:
    state, _ = run(SessionState(), ChargerSeen(True), Authorized(AUTH), Opened(local_id))
    return state


def test_plug_then_auth_opens_then_allows() -> None:
    state, actions = run(SessionState(), ChargerSeen(True), Authorized(AUTH))
    assert state.phase is Phase.OPENING and actions == [OpenSession(AUTH)]
    state, actions = run(state, Opened(7))
    assert state.phase is Phase.ACTIVE and state.local_id == 7
    assert actions == [AllowCharging(True)]


def test_auth_then_plug_opens() -> None:
    state, actions = run(SessionState(), Authorized(AUTH), ChargerSeen(True), now_s=10.0)
    assert state.phase is Phase.OPENING and actions == [OpenSession(AUTH)]


def test_plug_timeout_drops_the_authorisation() -> None:
    state, _ = run(SessionState(), Authorized(AUTH), now_s=0.0)
    assert state.phase is Phase.WAIT_PLUG and state.deadline_s == 60.0
    state, _ = run(state, Tick(), now_s=59.0)
    assert state.phase is Phase.WAIT_PLUG
    state, actions = run(state, Tick(), ChargerSeen(True), now_s=60.0)
    assert state.phase is Phase.WAIT_AUTH and actions == []


def test_auth_timeout_needs_a_replug() -> None:
    state, _ = run(SessionState(), ChargerSeen(True), now_s=0.0)
    state, _ = run(state, Tick(), now_s=121.0)
    assert state.phase is Phase.FINISHED
    state, actions = run(state, Authorized(AUTH), now_s=122.0)
    assert actions == [] and state.phase is Phase.FINISHED
    state, _ = run(state, ChargerSeen(False), ChargerSeen(True), now_s=123.0)
    assert state.phase is Phase.WAIT_AUTH


def test_stops_carry_their_reasons() -> None:
    cases = [
        (ChargerSeen(False), StopReason.EV_DISCONNECTED, Phase.IDLE),
        (ChargerSeen(False, fault=True), StopReason.OTHER, Phase.IDLE),
        (ChargerSeen(True, fault=True), StopReason.OTHER, Phase.FINISHED),
        (StopRequested(StopReason.REMOTE), StopReason.REMOTE, Phase.FINISHED),
        (StopRequested(StopReason.DEAUTHORIZED), StopReason.DEAUTHORIZED, Phase.FINISHED),
        (StopRequested(StopReason.REBOOT), StopReason.REBOOT, Phase.FINISHED),
    ]
    for event, reason, phase in cases:
        state, actions = run(active(), event)
        assert actions == [CloseSession(7, reason), AllowCharging(False)], event
        assert state.phase is phase, event


def test_local_stop_keeps_the_card_id() -> None:
    _, actions = run(active(), StopRequested(StopReason.LOCAL, "TAG1"))
    assert actions[0] == CloseSession(7, StopReason.LOCAL, "TAG1")


def test_stop_while_opening_closes_right_after_the_record_exists() -> None:
    state, _ = run(SessionState(), ChargerSeen(True), Authorized(AUTH))
    state, actions = run(state, ChargerSeen(False))
    assert actions == [AllowCharging(False)] and state.pending_stop is StopReason.EV_DISCONNECTED
    state, actions = run(state, Opened(9))
    assert actions == [CloseSession(9, StopReason.EV_DISCONNECTED), AllowCharging(False)]
    assert state.phase is Phase.IDLE


def test_failed_open_waits_again_without_charging() -> None:
    state, _ = run(SessionState(), ChargerSeen(True), Authorized(AUTH))
    state, actions = run(state, OpenFailed("disk full"))
    assert state.phase is Phase.WAIT_AUTH and actions == [AllowCharging(False)]


def test_recovery_resumes_a_plugged_ev_and_closes_otherwise() -> None:
    state, actions = run(recovering(5), ChargerSeen(True))
    assert state.phase is Phase.ACTIVE and actions == [AllowCharging(True)]
    state, actions = run(recovering(5), ChargerSeen(False))
    assert state.phase is Phase.IDLE
    assert actions == [
        CloseSession(5, StopReason.POWER_LOSS, use_last_known_meter=True),
        AllowCharging(False),
    ]


def test_second_authorisation_during_a_session_is_ignored() -> None:
    state, actions = run(active(), Authorized(Authorization("OTHER")))
    assert state == active() and actions == []
