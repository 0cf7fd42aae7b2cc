"""Session rules a CSMS changes at run time (OCPP configuration keys) take real effect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_controller.domain.commands import ChangeSessionRules
from edge_controller.domain.model import CpState, Token
from edge_controller.domain.sessions.authorization import AuthEntry, AuthPolicy, AuthStatus
from edge_controller.domain.sessions.events import SessionEnded
from edge_controller.domain.sessions.state import Phase
from edge_controller.storage.auth_store import AuthStore
from edge_controller.uplink.clock import ClockSync
from edge_controller.uplink.topology import Topology
from edge_controller.uplink.v16.render import Connection, request
from tests.unit.services.sessions.fixtures import Csms, Rig, make_rig, status
from tests.unit.services.sessions.test_session_manager import drain

CONNECTION = Connection(Topology("site", "site", {"cp1": 2}), ClockSync())


async def test_local_authorize_offline_turned_off_refuses_listed_cards(tmp_path: Path) -> None:
    policy = AuthPolicy(local_pre_authorize=False)
    rig = await make_rig(tmp_path / "e.db", policy=policy, csms=Csms(online=False))
    try:
        await AuthStore(rig.db).replace_local_list(1, [AuthEntry("AABBCCDD", AuthStatus.ACCEPTED)])
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        assert (await rig.manager.on_token(Token("AABBCCDD"), "cp1:1")).accepted
        rig.manager.change_rules(ChangeSessionRules(offline_authorize_from_list=False))
        await rig.manager.on_charger_status("cp1:2", status(CpState.B))
        assert not (await rig.manager.on_token(Token("AABBCCDD"), "cp1:2")).accepted
        rig.manager.change_rules(ChangeSessionRules(allow_unknown_offline=True))
        assert (await rig.manager.on_token(Token("AABBCCDD"), "cp1:2")).offline
    finally:
        await rig.db.close()


async def test_connection_timeout_shortens_the_wait_for_the_plug(rig: Rig) -> None:
    rig.csms.answers["11223344"] = AuthEntry("11223344", AuthStatus.ACCEPTED)
    rig.manager.change_rules(ChangeSessionRules(plug_timeout_s=5.0))
    await rig.manager.on_token(Token("11223344"), "cp1:2")
    assert rig.manager.phase("cp1:2") is Phase.WAIT_PLUG
    rig.clock.now_s += 6  # the configured 60 s would still wait
    await rig.manager.tick()
    assert rig.manager.phase("cp1:2") is Phase.IDLE


async def test_stop_transaction_carries_the_register_at_begin_and_end(rig: Rig) -> None:
    async def one_session(energy_wh: float) -> dict[str, Any]:
        await rig.manager.on_charger_status("cp1:1", status(CpState.B))
        await rig.manager.on_token(Token("AABBCCDD"), "cp1:1")
        rig.meters["cp1:1"].energy_wh = energy_wh
        rig.clock.now_s += 60
        await rig.manager.on_charger_status("cp1:1", status(CpState.A))
        ended = next(e for e in await drain(rig) if isinstance(e, SessionEnded))
        return request(ended, 1, CONNECTION)[1]  # as an OCPP 1.6 connection sends it

    rig.csms.answers["AABBCCDD"] = AuthEntry("AABBCCDD", AuthStatus.ACCEPTED)
    stop = await one_session(2500)
    begin, end = stop["transactionData"]
    assert begin["sampledValue"][0]["value"] == "1000"
    assert begin["sampledValue"][0]["context"] == "Transaction.Begin"
    assert end["sampledValue"][0]["value"] == "2500" == str(stop["meterStop"])
    assert end["timestamp"] == stop["timestamp"]
    rig.manager.change_rules(ChangeSessionRules(stop_transaction_data=False))
    assert "transactionData" not in await one_session(4000)


async def test_a_bad_rule_changes_nothing(rig: Rig) -> None:
    with pytest.raises(ValueError, match="connection timeout"):
        rig.manager.change_rules(ChangeSessionRules(cache_enabled=False, plug_timeout_s=0.0))
    assert rig.manager.auth.policy.cache_enabled
