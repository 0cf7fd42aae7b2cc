"""A connector's state (what the OCPP identities look at every second) says what its whole
view says of its status, session and fault, through a session's life, a reservation, a refused
start and a fault."""

from __future__ import annotations

from edge_controller.domain.commands import Reserve
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.snapshot import Availability, ConnectorState, ConnectorView
from tests.unit.services.sessions.fixtures import Rig, status

CID = "cp1:1"


def seen(availability: Availability, fault_text: str | None = None) -> ConnectorView:
    """The control loop's view of the connector, as it comes before the session side's join."""
    return ConnectorView(CID, availability, 16.0, "", fault_text=fault_text)


def state_and_view(rig: Rig, view: ConnectorView) -> tuple[ConnectorState, ConnectorState]:
    return rig.manager.connector_state(view), ConnectorState.of(rig.manager.connector_view(view))


async def test_the_state_says_what_the_view_says(rig: Rig) -> None:
    state, joined = state_and_view(rig, seen(Availability.AVAILABLE))
    assert state == joined == ConnectorState(CID, Availability.AVAILABLE)

    rig.csms.answers["INTRUDER"] = AuthEntry("INTRUDER", AuthStatus.INVALID)
    await rig.manager.on_charger_status(CID, status(CpState.B))
    assert not (await rig.manager.on_token(Token("INTRUDER"), CID)).accepted
    state, joined = state_and_view(rig, seen(Availability.PREPARING))
    assert state == joined
    assert state.availability is Availability.PREPARING
    assert state.status_info == "start refused: csms: Invalid"

    rig.csms.answers["AABBCCDD"] = AuthEntry("AABBCCDD", AuthStatus.ACCEPTED)
    assert (await rig.manager.on_token(Token("AABBCCDD"), CID)).accepted
    record = rig.manager.open_session(CID)
    assert record is not None
    state, joined = state_and_view(rig, seen(Availability.PREPARING))
    assert state == joined
    # The session is open while the charger still shows Preparing: suspended by the station.
    assert state.availability is Availability.SUSPENDED_EVSE
    assert state.session_id == str(record.local_id) and state.status_info is None

    state, joined = state_and_view(rig, seen(Availability.FAULTED, "RCD tripped"))
    assert state == joined
    assert (state.availability, state.fault_text) == (Availability.FAULTED, "RCD tripped")


async def test_a_reserved_connector_shows_reserved_in_its_state(rig: Rig) -> None:
    reserve = Reserve(CID, 7, "AABBCCDD", rig.clock.now_s + 600, None)
    assert await rig.manager.on_reservation(reserve)
    state, joined = state_and_view(rig, seen(Availability.AVAILABLE))
    assert state == joined == ConnectorState(CID, Availability.RESERVED)


def test_a_connector_the_session_side_does_not_run_keeps_its_view(rig: Rig) -> None:
    other = ConnectorView("cp9:1", Availability.CHARGING, 16.0, "", session_id="4")
    assert rig.manager.connector_state(other) == ConnectorState.of(other)
    assert ConnectorState.of(other) == ConnectorState("cp9:1", Availability.CHARGING, "4")
