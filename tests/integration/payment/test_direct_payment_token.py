"""A session paid by card at the site's terminal, as the schema-strict CSMS (ocpp-rpc
strictMode) receives it: the real pay command on the session side and a simulated ZVT terminal
over TCP, then the uplink sending what was recorded. OCPP 2.1 names the token's type
DirectPayment (2.1 appendix: a payment card authorised at a terminal); 2.0.1 has no such value,
so its token stays Local. The settlement names the same payment: its pspRef (2.1) or the
FinalCost price text (2.0.1) is the token the session started with."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from edge_controller.app.commands import CommandPort
from edge_controller.app.payments import max_cost_of
from edge_controller.domain.commands import Origin, PayAtTerminal
from edge_controller.domain.payments import TOKEN_PREFIX
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.drivers.payment.zvt import ZvtSettings, ZvtTerminal
from edge_controller.services.payments import PaymentFlow, TerminalPlace
from edge_controller.sim.zvt_terminal import SimulatedZvtTerminal
from edge_controller.storage.payments_store import PaymentStore, SettlementOutbox
from edge_controller.storage.tariff_store import SITE
from tests.integration.mqtt.conftest import wait_until
from tests.integration.ocpp.harness import running_uplink, settings_for
from tests.integration.ocpp.sessions_site import Controller, live_site
from tests.integration.ocpp.strict_peer import strict_peer
from tests.integration.payment.settling import charged_and_ended, settled

pytestmark = pytest.mark.integration
PASSWORD = 864201
EUR = Currency.of("EUR")
TARIFF = {"id": "t1", "currency": "EUR", "energy": {"prices": [{"price_per_kwh": "0.40"}]}}


@pytest.mark.parametrize(("version", "token_type"), [("2.1", "DirectPayment"), ("2.0.1", "Local")])
async def test_card_paid_session_token_and_settlement_at_the_csms(
    tmp_path: Path, version: str, token_type: str
) -> None:
    sim = SimulatedZvtTerminal(password=PASSWORD)
    await sim.start()
    try:
        calls = await _pay_charge_and_send(tmp_path, sim, version)
    finally:
        await sim.stop()
    peer_calls, invalid, token = calls
    assert invalid == []
    (started,) = [c for c in peer_calls if c["action"] == "TransactionEvent"
                  and c["params"]["eventType"] == "Started"]  # fmt: skip
    assert started["params"]["idToken"] == {"idToken": token, "type": token_type}
    assert token.startswith(TOKEN_PREFIX)
    tx_id = started["params"]["transactionInfo"]["transactionId"]
    if version == "2.1":
        (settled,) = [c["params"] for c in peer_calls if c["action"] == "NotifySettlement"]
        assert settled["pspRef"] == token and settled["transactionId"] == tx_id
        assert Decimal(str(settled["settlementAmount"])) == Decimal("4.00")  # 10 kWh at 0.40
        return
    (transfer,) = [c["params"] for c in peer_calls if c["action"] == "DataTransfer"
                   and c["params"]["messageId"] == "FinalCost"]  # fmt: skip
    final = json.loads(transfer["data"])
    assert final["transactionId"] == tx_id and token in final["priceText"]
    assert Decimal(str(final["cost"])) == Decimal("4.00")


async def _pay_charge_and_send(
    tmp_path: Path, sim: SimulatedZvtTerminal, version: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """Pay at the terminal for c1:1, charge 10 kWh, stop, capture; then let the uplink send
    what was recorded to a strict CSMS of ``version``: its calls, schema rejections, the token."""
    async with live_site(tmp_path, {SITE: TARIFF}) as (site, outbox):
        assert site.pricing is not None and site.db is not None
        flow = PaymentFlow(
            TerminalPlace("entrance", Money(Decimal("50.00"), EUR), poll_s=0.05),
            ZvtTerminal(ZvtSettings("127.0.0.1", sim.port, password=PASSWORD)),
            PaymentStore(site.db, SettlementOutbox("site1", lambda _c: "site1")),
            site.clock, max_cost_of(site.pricing),
        )  # fmt: skip
        commands = CommandPort(cast(Any, Controller()), site.manager, {"c1:1": flow})
        await site.plug("c1:1")
        assert (await commands.decide(PayAtTerminal("c1:1", Origin.MQTT))).ok
        session = site.manager.open_session("c1:1")
        assert session is not None
        await charged_and_ended(site, commands, "c1:1", 10_000, 3600)
        await settled(flow)
        assert sim.ledger.captures == [(1, 400)]
        async with strict_peer(protocols=f"ocpp{version}") as peer:
            settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=[version])
            async with running_uplink(settings, site.base, outbox, tmp_path, {"c1": 1}):
                await wait_until(lambda: _settled(peer.calls()), timeout_s=20.0)
        return peer.calls(), peer.invalid(), session.id_tag


def _settled(calls: list[dict[str, Any]]) -> bool:
    return any(
        c["action"] == "NotifySettlement"
        or (c["action"] == "DataTransfer" and c["params"].get("messageId") == "FinalCost")
        for c in calls
    )
