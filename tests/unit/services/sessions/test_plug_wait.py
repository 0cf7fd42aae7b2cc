"""An authorisation waiting for an EV is shown (which connectors, whose masked id, until when)
on every status surface, and every decision on a token is logged, masked, accepted or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from structlog.testing import capture_logs

from edge_controller.api.codec import site_from_json, site_to_json
from edge_controller.api.render import render
from edge_controller.app.views import ConnectorViews
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthStatus
from edge_controller.domain.sessions.tokens import masked
from edge_controller.domain.snapshot import Availability, ConnectorView, SiteView
from edge_controller.log import get_logger
from edge_controller.services.readers import PendingTaps, ReaderRoute, ReaderService
from edge_controller.services.sessions import auth as session_auth
from edge_controller.services.sessions import manager as session_manager
from edge_controller.services.sessions.manager import PlugWait
from edge_controller.storage.auth_store import AuthStore
from edge_controller.telemetry.payloads import connector_payload
from tests.unit.services.sessions.fixtures import Rig, make_rig, status

UID = "04A1B2C3D4E5F6"


def composed(rig: Rig) -> dict[str, ConnectorView]:
    """The views as the daemon composes them (the charger side: nothing plugged anywhere)."""
    raw = tuple(
        ConnectorView(cid, Availability.AVAILABLE, 0.0, "no vehicle") for cid in ("cp1:1", "cp1:2")
    )
    site = SiteView("site", None, 32.0, None, None, raw)
    joined = ConnectorViews(cast(Any, None), rig.manager).join(site)
    return {c.connector_id: c for c in joined}


def test_a_token_is_masked_to_its_ends() -> None:
    assert masked(UID) == "04..F6"
    assert masked("AB12") == ".." and masked("") == ""


async def test_a_card_tapped_before_the_ev_shows_where_and_until_when(rig: Rig) -> None:
    rig.csms.answers[UID] = AuthEntry(UID, AuthStatus.ACCEPTED)
    assert (await rig.manager.on_token(Token(UID), "cp1:1")).accepted
    until_s = rig.clock.now_s + 60.0
    assert rig.manager.plug_wait("cp1:1") == PlugWait("04..F6", until_s)
    views = composed(rig)
    shown = views["cp1:1"]
    assert shown.availability is Availability.PREPARING
    assert (shown.plug_wait_token, shown.plug_wait_until_s) == ("04..F6", until_s)
    assert views["cp1:2"].plug_wait_token is None
    # Every surface says the same, from the same view, and never the whole UID.
    payload = connector_payload(shown)
    assert payload["waiting_for_plug"] == {"id_tag": "04..F6", "until_s": until_s}
    assert payload["availability"] == "Preparing"
    site = SiteView("site", None, 32.0, None, None, tuple(views.values()))
    assert site_from_json(site_to_json(site)) == site
    assert "waits for an EV: 04..F6" in render(site)
    assert UID not in render(site) and UID not in str(payload)
    # Once the EV is there the session starts and nothing waits any more.
    await rig.manager.on_charger_status("cp1:1", status(CpState.C))
    assert rig.manager.plug_wait("cp1:1") is None
    assert connector_payload(composed(rig)["cp1:1"])["waiting_for_plug"] is None


async def test_a_shared_readers_tap_shows_on_each_of_its_free_connectors(tmp_path: Path) -> None:
    taps = PendingTaps({"door": ReaderRoute(("cp1:1", "cp1:2"), plug_timeout_s=30.0)})
    rig = await make_rig(tmp_path / "edge.db", taps=taps)
    try:
        await _shared_tap_shows_on_each_free_connector(rig, taps)
    finally:
        await rig.db.close()


async def _shared_tap_shows_on_each_free_connector(rig: Rig, taps: PendingTaps) -> None:
    await AuthStore(rig.db).replace_local_list(1, [AuthEntry(UID, AuthStatus.ACCEPTED)])
    service = ReaderService([], taps, rig.manager.on_token, activity=rig.manager.activity)
    await service.handle(Token(UID, reader_id="door"))
    until_s = rig.clock.now_s + 30.0  # the reader's own timeout is the shorter one
    assert [rig.manager.plug_wait(c) for c in ("cp1:1", "cp1:2")] == [
        PlugWait("04..F6", until_s)
    ] * 2
    assert [v.availability for v in composed(rig).values()] == [Availability.AVAILABLE] * 2
    await rig.manager.on_charger_status("cp1:2", status(CpState.B))
    record = rig.manager.open_session("cp1:2")
    assert record is not None and record.id_tag == UID
    assert rig.manager.plug_wait("cp1:1") is None  # taken by the plug-in at cp1:2
    rig.clock.now_s += 31
    assert rig.manager.plug_wait("cp1:1") is None


@pytest.mark.parametrize("listed", [True, False])
async def test_every_decision_is_logged_with_the_token_masked(
    rig: Rig, listed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module loggers were bound at import; another test may have configured logging since.
    monkeypatch.setattr(session_auth, "log", get_logger("sessions.auth"))
    monkeypatch.setattr(session_manager, "log", get_logger("sessions"))
    if listed:
        await AuthStore(rig.db).replace_local_list(1, [AuthEntry(UID, AuthStatus.ACCEPTED)])
    else:
        rig.csms.answers[UID] = AuthEntry(UID, AuthStatus.BLOCKED)
    with capture_logs() as logs:
        decision = await rig.manager.on_token(Token(UID), "cp1:1")
    assert decision.accepted is listed
    (logged,) = [e for e in logs if e["event"] in ("token accepted", "token refused")]
    assert logged["event"] == ("token accepted" if listed else "token refused")
    assert logged["token"] == "04..F6"
    assert logged["reason"] == ("local list: Accepted" if listed else "csms: Blocked")
    assert all(UID not in str(e) for e in logs)
