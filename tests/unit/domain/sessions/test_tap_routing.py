"""Which connector a tap belongs to: dedicated readers, shared readers, plug-in within timeout."""

from __future__ import annotations

from edge_controller.domain.model import Token
from edge_controller.domain.sessions.tap_routing import (
    ConnectorActivity,
    PendingTap,
    add_pending,
    claim_for_plug,
    route_tap,
)

TOKEN = Token("04A1B2C3", reader_id="shared")
SHARED = ("c1:1", "c1:2", "c2:1")


def _route(activity: ConnectorActivity, connectors: tuple[str, ...] = SHARED) -> str | None:
    route = route_tap(TOKEN, "shared", connectors, activity, at_s=100.0, plug_timeout_s=30)
    return route.connector_id


def test_dedicated_reader_routes_to_its_connector() -> None:
    assert _route(ConnectorActivity(), ("c1:1",)) == "c1:1"


def test_shared_reader_routes_to_the_session_started_with_the_token() -> None:
    activity = ConnectorActivity(
        waiting_since_s={"c1:1": 10.0}, session_tags={"c1:2": "OTHER", "c2:1": "04A1B2C3"}
    )
    assert _route(activity) == "c2:1"


def test_shared_reader_routes_to_the_longest_waiting_connector() -> None:
    assert _route(ConnectorActivity(waiting_since_s={"c1:2": 50.0})) == "c1:2"
    both = ConnectorActivity(waiting_since_s={"c1:2": 50.0, "c2:1": 40.0})
    assert _route(both) == "c2:1"
    elsewhere = ConnectorActivity(waiting_since_s={"c9:1": 1.0})
    assert _route(elsewhere) is None


def test_shared_reader_tap_waits_for_a_plug_in() -> None:
    route = route_tap(TOKEN, "shared", SHARED, ConnectorActivity(), at_s=100.0, plug_timeout_s=30)
    assert route.connector_id is None and route.pending is not None
    assert route.pending.expires_at_s == 130.0
    claimed, rest = claim_for_plug([route.pending], "c1:2", at_s=129.0)
    assert claimed is route.pending and rest == ()


def test_plug_in_after_the_timeout_or_elsewhere_claims_nothing() -> None:
    tap = PendingTap(TOKEN, "shared", SHARED, expires_at_s=130.0)
    assert claim_for_plug([tap], "c1:1", at_s=130.0) == (None, ())
    assert claim_for_plug([tap], "c9:1", at_s=110.0) == (None, (tap,))


def test_a_newer_tap_on_the_same_reader_replaces_the_pending_one() -> None:
    old = PendingTap(TOKEN, "shared", SHARED, expires_at_s=130.0)
    other_reader = PendingTap(Token("B"), "gate", ("c2:1",), expires_at_s=125.0)
    new = PendingTap(Token("04D5E6F7"), "shared", SHARED, expires_at_s=140.0)
    pending = add_pending([old, other_reader], new, at_s=110.0)
    assert pending == (other_reader, new)
    claimed, rest = claim_for_plug(pending, "c2:1", at_s=111.0)
    assert claimed is new and rest == (other_reader,)
