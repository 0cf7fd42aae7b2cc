"""One authorization rule for every start: MQTT, web and local starts are authorised like a
card; a CSMS start keeps its own semantics; a start takes its connector at once, from the
session side's own states, so two starts never take the same one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from edge_controller.domain.commands import Origin, StartSession, StopSession
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthPolicy, AuthStatus
from edge_controller.domain.sessions.events import IdToken, SessionStarted, TokenType
from edge_controller.domain.sessions.state import Phase
from edge_controller.storage.auth_store import AuthStore
from tests.unit.services.sessions.fixtures import Csms, Rig, make_rig, status

INVALID = AuthEntry("INTRUDER", AuthStatus.INVALID)
ACCEPTED = AuthEntry("APP42", AuthStatus.ACCEPTED)


class GatedCsms(Csms):
    """A CSMS that answers Authorize only once the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def authorize(self, id_tag: str, *, key_code: bool = False) -> AuthEntry | None:
        self.asked.append(id_tag)
        await self.gate.wait()
        return self.answers.get(id_tag)


@asynccontextmanager
async def gated_rig(tmp_path: Path) -> AsyncIterator[tuple[Rig, GatedCsms]]:
    gated = GatedCsms()
    gated.answers["APP42"] = ACCEPTED
    rig = await make_rig(tmp_path / "g.db", csms=gated)
    try:
        yield rig, gated
    finally:
        await rig.db.close()


@asynccontextmanager
async def running(rig: Rig) -> AsyncIterator[None]:
    """The manager's own loop: ticks and the authorisations of CSMS starts."""
    task = asyncio.create_task(rig.manager.run(interval_s=0.01))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def settle(rig: Rig, cid: str, phase: Phase) -> None:
    async with asyncio.timeout(5):
        while rig.manager.phase(cid) is not phase:  # noqa: ASYNC110 - the manager's own task
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("origin", [Origin.MQTT, Origin.WEB, Origin.OPERATOR, Origin.LOCAL])
async def test_a_start_the_csms_refuses_never_charges(rig: Rig, origin: Origin) -> None:
    rig.csms.answers["INTRUDER"] = INVALID
    await rig.manager.on_charger_status("cp1:1", status(CpState.B))  # the EV waits
    result = await rig.manager.start(StartSession("cp1:1", "INTRUDER", origin))
    assert not result.ok and result.error is not None and "csms: Invalid" in result.error
    assert rig.csms.asked == ["INTRUDER"]
    assert rig.manager.phase("cp1:1") is Phase.WAIT_AUTH  # still waiting for a real card
    assert rig.gate.allowed("cp1:1") in (None, False)
    assert await rig.store.recent() == [] and await rig.outbox.backlog() == 0
    assert rig.manager.note("cp1:1") == "start refused: csms: Invalid"


async def test_offline_an_mqtt_start_follows_the_card_rules(rig: Rig) -> None:
    await AuthStore(rig.db).replace_local_list(1, [ACCEPTED])
    rig.csms.online = False
    listed = await rig.manager.start(StartSession("cp1:1", "APP42", Origin.MQTT))
    unknown = await rig.manager.start(StartSession("cp1:2", "STRANGER", Origin.MQTT))
    assert listed.ok and listed.connector_id == "cp1:1"
    assert rig.manager.phase("cp1:1") is Phase.WAIT_PLUG
    assert (
        not unknown.ok
        and unknown.error is not None
        and "offline: unknown id refused" in (unknown.error)
    )
    assert rig.manager.phase("cp1:2") is Phase.IDLE


async def test_offline_unknown_ids_may_start_only_if_the_site_allows_it(tmp_path: Path) -> None:
    policy = AuthPolicy(allow_unknown_offline=True, unknown_offline_energy_cap_wh=500)
    rig = await make_rig(tmp_path / "e.db", policy=policy, csms=Csms(online=False))
    try:
        result = await rig.manager.start(StartSession("cp1:1", "STRANGER", Origin.MQTT))
        await rig.manager.on_charger_status("cp1:1", status(CpState.C))
        record = rig.manager.open_session("cp1:1")
        assert result.ok and record is not None and record.energy_cap_wh == 500
    finally:
        await rig.db.close()


async def test_a_csms_start_is_not_authorised_again_unless_asked(rig: Rig) -> None:
    result = await rig.manager.start(StartSession("cp1:1", "REMOTE1", Origin.CSMS))
    assert result.ok and rig.csms.asked == []
    assert rig.manager.phase("cp1:1") is Phase.WAIT_PLUG


async def test_authorize_first_is_answered_at_once_and_authorised_after(rig: Rig) -> None:
    rig.csms.answers["INTRUDER"] = INVALID
    rig.csms.answers["APP42"] = ACCEPTED
    bad = StartSession("cp1:1", "INTRUDER", Origin.CSMS, authorize_first=True)
    good = StartSession("site:0", "APP42", Origin.CSMS, True, ("cp1:1", "cp1:2"))
    first = await rig.manager.start(bad)
    assert first.ok and first.connector_id == "cp1:1" and rig.csms.asked == []
    assert rig.manager.phase("cp1:1") is Phase.AUTHORIZING  # held: nobody else starts there
    second = await rig.manager.start(good)
    assert second.ok and second.connector_id == "cp1:2"
    async with running(rig):
        await settle(rig, "cp1:1", Phase.IDLE)
        await settle(rig, "cp1:2", Phase.WAIT_PLUG)
    assert sorted(rig.csms.asked) == ["APP42", "INTRUDER"]
    assert rig.manager.note("cp1:1") == "start refused: csms: Invalid"


async def test_a_key_code_authorised_first_starts_as_a_key_code(rig: Rig) -> None:
    """AuthorizeRemoteStart: the KeyCode the CSMS gave is authorised here (its answer, the
    local list...) and the session starts with it as a KeyCode, not a Central token."""
    rig.csms.answers["4712"] = AuthEntry("4712", AuthStatus.ACCEPTED)
    start = StartSession("cp1:1", "4712", Origin.CSMS, authorize_first=True, key_code=True)
    assert (await rig.manager.start(start)).ok
    async with running(rig):
        await settle(rig, "cp1:1", Phase.WAIT_PLUG)
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        await settle(rig, "cp1:1", Phase.ACTIVE)
    assert rig.csms.asked == ["4712"]
    message = await rig.outbox.peek("site")
    assert message is not None and isinstance(message.event, SessionStarted)
    assert message.event.id_token == IdToken("4712", TokenType.KEY_CODE)


async def test_two_starts_never_take_the_same_connector(tmp_path: Path) -> None:
    async with gated_rig(tmp_path) as (rig, csms):
        start = StartSession("cp1:1", "APP42", Origin.MQTT)
        mqtt = asyncio.create_task(rig.manager.start(start))
        await settle(rig, "cp1:1", Phase.AUTHORIZING)  # the CSMS has not answered yet
        remote = await rig.manager.start(StartSession("cp1:1", "REMOTE1", Origin.CSMS))
        card = await rig.manager.on_token(Token("AABBCCDD"), "cp1:1")
        csms.gate.set()
        assert (await mqtt).ok
        await rig.manager.on_charger_status("cp1:1", status(CpState.C))
        record = rig.manager.open_session("cp1:1")
    assert not remote.ok and remote.error == "connector is held by another start"
    assert not card.accepted and card.reason == "connector is held by another start"
    assert csms.asked == ["APP42"]  # the refused card was not even looked up
    assert record is not None and record.id_tag == "APP42" and record.source == "mqtt"


async def test_a_stop_gives_up_a_claim_and_its_late_answer_starts_nothing(tmp_path: Path) -> None:
    async with gated_rig(tmp_path) as (rig, csms):
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        start = StartSession("cp1:1", "APP42", Origin.MQTT)
        pending = asyncio.create_task(rig.manager.start(start))
        await settle(rig, "cp1:1", Phase.AUTHORIZING)
        assert (await rig.manager.stop(StopSession("cp1:1", Origin.OPERATOR))).ok
        csms.gate.set()
        result = await pending
        assert rig.manager.phase("cp1:1") is Phase.WAIT_AUTH and await rig.store.recent() == []
    assert not result.ok and result.error is not None and "given up" in result.error


async def test_a_start_cancelled_while_authorising_lets_the_connector_go(tmp_path: Path) -> None:
    async with gated_rig(tmp_path) as (rig, _):
        start = StartSession("cp1:1", "APP42", Origin.MQTT)
        pending = asyncio.create_task(rig.manager.start(start))
        await settle(rig, "cp1:1", Phase.AUTHORIZING)
        pending.cancel()  # e.g. the MQTT command timed out
        await asyncio.gather(pending, return_exceptions=True)
        assert rig.manager.phase("cp1:1") is Phase.IDLE


async def test_the_session_side_chooses_among_connectors(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path / "e.db", connectors=("cp1:1", "cp1:2", "cp1:3"))
    try:
        # cp1:1: a session just ended, cable still in. cp1:2: an EV waits for a card.
        await rig.manager.start(StartSession("cp1:1", "X", Origin.CSMS))
        await rig.manager.on_charger_status("cp1:1", status(CpState.C))
        await rig.manager.stop(StopSession("cp1:1", Origin.CSMS))
        await rig.manager.on_charger_status("cp1:2", status(CpState.B))
        assert rig.manager.phase("cp1:1") is Phase.FINISHED
        every = ("cp1:1", "cp1:2", "cp1:3")
        first = await rig.manager.start(StartSession("site:0", "R1", Origin.CSMS, any_of=every))
        second = await rig.manager.start(StartSession("site:0", "R2", Origin.CSMS, any_of=every))
        third = await rig.manager.start(StartSession("site:0", "R3", Origin.CSMS, any_of=every))
    finally:
        await rig.db.close()
    assert first.connector_id == "cp1:2"  # the EV waiting there starts at once
    assert second.connector_id == "cp1:3"  # never the one whose session just ended
    assert not third.ok and third.error is not None
    assert "cp1:1: connector still has the EV of an ended session" in third.error


async def test_a_connector_waiting_for_a_plug_is_kept_for_its_id(rig: Rig) -> None:
    assert (await rig.manager.start(StartSession("cp1:1", "REMOTE1", Origin.CSMS))).ok
    other = await rig.manager.start(StartSession("cp1:1", "REMOTE2", Origin.CSMS))
    again = await rig.manager.start(StartSession("cp1:1", "REMOTE1", Origin.CSMS))
    assert not other.ok and other.error == "connector waits for the EV of another id"
    assert again.ok and rig.manager.phase("cp1:1") is Phase.WAIT_PLUG


async def test_unknown_connectors_are_refused(rig: Rig) -> None:
    result = await rig.manager.start(StartSession("nope:1", "X", Origin.MQTT))
    assert not result.ok and result.error == "unknown connector nope:1"
    assert rig.csms.asked == []
