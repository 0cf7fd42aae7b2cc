"""One identity per charger, each speaking its own OCPP version (``chargers.<id>.ocpp.version``)
to the same schema-strict CSMS at once: cp1 the site's 1.6, cp2 2.0.1. Each session is reported
exactly once, on its own charger's identity and in that identity's version, with the energy
recorded; a second start sends nothing again. Zero schema rejections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.snapshot import Availability
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import StrictPeer, strict_peer
from tests.outbox_events import ended, sampled, started

pytestmark = pytest.mark.integration
CHARGERS = {"cp1": 1, "cp2": 1}
VERSIONS = {"cp2": ("2.0.1",)}


def _calls(peer: StrictPeer, identity: str, action: str) -> list[dict[str, Any]]:
    return [c["params"] for c in peer.calls(action) if c["identity"] == identity]


def _security_events(peer: StrictPeer, identity: str) -> int:
    return len(_calls(peer, identity, "SecurityEventNotification"))


def _register(event: dict[str, Any], context: str) -> float:
    return next(
        float(v["value"])
        for mv in event["meterValue"]
        for v in mv["sampledValue"]
        if v.get("context") == context and v["measurand"] == "Energy.Active.Import.Register"
    )


async def test_two_chargers_speak_1_6_and_2_0_1_at_once_each_session_once(
    tmp_path: Path,
) -> None:
    site = FakeSite()
    for cid in ("cp1:1", "cp2:1"):
        site.set(cid, Availability.AVAILABLE)
    async with (
        strict_peer(protocols="ocpp2.0.1,ocpp1.6") as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        await outbox.append("cp1", started(1, "cp1:1", 1000))
        await outbox.append("cp2", started(2, "cp2:1", 5000, id_tag="11223344"))
        await outbox.append("cp1", sampled(1, 4000, "cp1:1", power_w=7200))
        await outbox.append("cp2", ended(2, 12000, "cp2:1", meter_start_wh=5000))
        await outbox.append("cp1", ended(1, 9000, "cp1:1"))
        settings = settings_for(
            f"ws://127.0.0.1:{peer.port}", identity=None, topology="per_charger", version="1.6"
        )
        async with running_uplink(
            settings, site, outbox, tmp_path, CHARGERS, versions=VERSIONS
        ) as uplink:
            # Each identity's start-up security event, then its session's messages.
            await wait_for(lambda: uplink.sessions.get("cp1") is not None)
            await wait_for(lambda: uplink.sessions["cp1"].sender.sent == 4)
            await wait_for(lambda: uplink.sessions.get("cp2") is not None)
            await wait_for(lambda: uplink.sessions["cp2"].sender.sent == 3)
        assert await outbox.backlog() == 0
        # A second start: everything answered stays answered. Its own start-up security
        # event comes after anything left in each identity's line, so it marks the end.
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS, versions=VERSIONS):
            await wait_for(lambda: _security_events(peer, "cp1") == 2)
            await wait_for(lambda: _security_events(peer, "cp2") == 2)

    assert peer.invalid() == []
    connects = [(e["identity"], e["protocol"]) for e in peer.events if e["event"] == "connect"]
    assert sorted(set(connects)) == [("cp1", "ocpp1.6"), ("cp2", "ocpp2.0.1")]

    # cp1: 1.6 only, its session once, 9000 - 1000 Wh.
    (start,) = _calls(peer, "cp1", "StartTransaction")
    (stop,) = _calls(peer, "cp1", "StopTransaction")
    assert (start["connectorId"], start["idTag"]) == (1, "AABBCCDD")
    assert stop["meterStop"] - start["meterStart"] == 8000
    assert len(_calls(peer, "cp1", "MeterValues")) == 1
    assert _calls(peer, "cp1", "TransactionEvent") == []

    # cp2: 2.0.1 only, its session once, 12000 - 5000 Wh.
    events = _calls(peer, "cp2", "TransactionEvent")
    assert [e["eventType"] for e in events] == ["Started", "Ended"]
    assert [e["seqNo"] for e in events] == [0, 1]
    assert events[0]["idToken"]["idToken"] == "11223344"
    assert events[0]["evse"] == {"id": 1, "connectorId": 1}
    assert _register(events[1], "Transaction.End") - _register(events[0], "Transaction.Begin") == (
        7000
    )
    assert _calls(peer, "cp2", "StartTransaction") == []
    boots = {c["identity"]: c["params"] for c in peer.calls("BootNotification")}
    assert "chargePointVendor" in boots["cp1"] and "chargingStation" in boots["cp2"]


async def test_a_charger_offering_a_list_gets_the_version_the_csms_chooses(
    tmp_path: Path,
) -> None:
    """cp2 offers 2.1 and 1.6; a CSMS serving only 1.6 and 2.0.1 takes 1.6 from it, while
    cp1 (2.0.1, the site's) gets 2.0.1."""
    site = FakeSite()
    for cid in ("cp1:1", "cp2:1"):
        site.set(cid, Availability.AVAILABLE)
    async with (
        strict_peer(protocols="ocpp1.6,ocpp2.0.1") as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        settings = settings_for(
            f"ws://127.0.0.1:{peer.port}", identity=None, topology="per_charger", version="2.0.1"
        )
        versions = {"cp2": ("2.1", "1.6")}
        async with running_uplink(settings, site, outbox, tmp_path, CHARGERS, versions=versions):
            await wait_for(lambda: _security_events(peer, "cp1") == 1)
            await wait_for(lambda: _security_events(peer, "cp2") == 1)
    connects = {e["identity"]: e["protocol"] for e in peer.events if e["event"] == "connect"}
    assert connects == {"cp1": "ocpp2.0.1", "cp2": "ocpp1.6"}
    assert peer.invalid() == []
