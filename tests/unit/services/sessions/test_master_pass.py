"""A master pass (AuthCtrlr.MasterPassGroupId, OCPP 2.0.1 C16): a valid token of that group
stops any session within its reader's reach and starts none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from edge_controller.domain.commands import ChangeSessionRules, StopReason
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthPolicy, AuthStatus
from edge_controller.domain.sessions.events import SessionEnded, SessionStarted
from edge_controller.domain.sessions.state import Phase
from edge_controller.services.readers import PendingTaps, ReaderRoute, ReaderService
from tests.unit.services.sessions.fixtures import Clock, Rig, make_rig, status
from tests.unit.services.sessions.test_session_manager import drain

ACCEPT = AuthStatus.ACCEPTED
DRIVER, MASTER = "AAAA0001", "0A11CE00"


def _cards(rig: Rig) -> None:
    rig.csms.answers[DRIVER] = AuthEntry(DRIVER, ACCEPT)
    rig.csms.answers["BBBB0002"] = AuthEntry("BBBB0002", ACCEPT)
    rig.csms.answers[MASTER] = AuthEntry(MASTER, ACCEPT, parent_id_tag="MASTERS")


@asynccontextmanager
async def _shared_reader(tmp_path: Path) -> AsyncIterator[tuple[Rig, ReaderService]]:
    """The session side with the site config's master pass group and reader r1 shared by
    cp1:1 and cp1:2, the cards known to the CSMS."""
    clock = Clock()
    taps = PendingTaps({"r1": ReaderRoute(("cp1:1", "cp1:2"), plug_timeout_s=60.0)}, clock)
    policy = AuthPolicy(master_pass_group_id="MASTERS")
    rig = await make_rig(tmp_path / "shared.db", clock=clock, taps=taps, policy=policy)
    try:
        _cards(rig)
        yield rig, ReaderService([], taps, rig.manager.on_token, activity=rig.manager.activity)
    finally:
        await rig.db.close()


async def test_a_master_pass_stops_another_drivers_session(rig: Rig) -> None:
    _cards(rig)
    rig.manager.change_rules(ChangeSessionRules(master_pass_group_id="masters"))
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    assert (await rig.manager.on_token(Token(DRIVER), "cp1:1")).accepted
    rig.meters["cp1:1"].energy_wh = 4200.0
    decision = await rig.manager.on_token(Token(MASTER), "cp1:1")
    assert decision.accepted and decision.master_pass, decision
    assert rig.manager.phase("cp1:1") is Phase.FINISHED and rig.gate.allowed("cp1:1") is False
    (record,) = await rig.store.recent()
    assert record.stop_reason == "MasterPass" and record.stop_id_tag == MASTER
    assert record.meter_stop_wh - record.meter_start_wh == 3200
    start, end = await drain(rig)
    assert isinstance(start, SessionStarted) and isinstance(end, SessionEnded)
    assert end.reason is StopReason.MASTER_PASS and end.stop_register_wh == 4200


async def test_a_master_pass_starts_nothing(rig: Rig) -> None:
    _cards(rig)
    rig.manager.change_rules(ChangeSessionRules(master_pass_group_id="MASTERS"))
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    decision = await rig.manager.on_token(Token(MASTER), "cp1:1")
    assert not decision.accepted and decision.master_pass
    assert rig.manager.phase("cp1:1") is Phase.WAIT_AUTH and rig.gate.allowed("cp1:1") is not True
    assert await rig.store.recent() == [] and await drain(rig) == []
    # Tapped before any EV: nothing is kept for the next plug-in either.
    await rig.manager.on_token(Token(MASTER), "cp1:2")
    await rig.manager.on_charger_status("cp1:2", status(CpState.B))
    assert rig.manager.phase("cp1:2") is Phase.WAIT_AUTH


async def test_without_the_group_set_the_card_is_an_ordinary_one(rig: Rig) -> None:
    _cards(rig)
    rig.manager.change_rules(ChangeSessionRules(master_pass_group_id="MASTERS"))
    rig.manager.change_rules(ChangeSessionRules(master_pass_group_id=""))  # cleared by the CSMS
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))
    await rig.manager.on_token(Token(DRIVER), "cp1:1")
    refused = await rig.manager.on_token(Token(MASTER), "cp1:1")
    assert not refused.accepted and not refused.master_pass
    assert rig.manager.phase("cp1:1") is Phase.ACTIVE
    await rig.manager.on_charger_status("cp1:2", status(CpState.B))
    assert (await rig.manager.on_token(Token(MASTER), "cp1:2")).accepted
    assert rig.manager.phase("cp1:2") is Phase.ACTIVE


async def test_a_master_pass_from_the_site_config_at_a_shared_reader_stops_all_it_serves(
    tmp_path: Path,
) -> None:
    async with _shared_reader(tmp_path) as (rig, readers):
        for cid, tag in (("cp1:1", DRIVER), ("cp1:2", "BBBB0002")):
            await rig.manager.on_charger_status(cid, status(CpState.B))
            await readers.handle(Token(tag, reader_id="r1"))
            assert rig.manager.phase(cid) is Phase.ACTIVE
        await readers.handle(Token(MASTER, reader_id="r1"))
        assert rig.manager.phase("cp1:1") is Phase.FINISHED
        assert rig.manager.phase("cp1:2") is Phase.FINISHED
        reasons = sorted((r.connector_id, r.stop_reason) for r in await rig.store.recent())
        assert reasons == [("cp1:1", "MasterPass"), ("cp1:2", "MasterPass")]


async def test_a_master_pass_at_a_reader_without_connectors_stops_nothing(tmp_path: Path) -> None:
    # A reader the config gives no connectors reaches none: its master pass must not stop the
    # sessions of every station on the site (C16 speaks of one charging station).
    async with _shared_reader(tmp_path) as (rig, readers):
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        await readers.handle(Token(DRIVER, reader_id="r1"))
        assert rig.manager.phase("cp1:1") is Phase.ACTIVE
        await readers.handle(Token(MASTER, reader_id="lobby"))  # no route for this reader
        assert rig.manager.phase("cp1:1") is Phase.ACTIVE
        assert [r.stop_reason for r in await rig.store.recent()] == [None]
