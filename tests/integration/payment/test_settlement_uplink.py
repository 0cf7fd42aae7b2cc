"""A paid session's settlement at the schema-strict CSMS (ocpp-rpc strictMode): queued in the
outbox while no CSMS is reachable, then sent once, after the session's end, naming the
session's transaction: OCPP 2.1 NotifySettlement, on 1.6 and 2.0.1 the costmsg FinalCost in a
DataTransfer. Zero schema rejections."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest

from edge_controller.domain.commands import StopReason
from edge_controller.domain.payments import (
    PaymentTokenIssued,
    SettlementRecorded,
    SettlementStatus,
)
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.domain.snapshot import Availability
from edge_controller.uplink.service import OcppUplink
from tests.integration.ocpp.harness import (
    FakeSite,
    open_outbox,
    running_uplink,
    settings_for,
    wait_for,
)
from tests.integration.ocpp.strict_peer import strict_peer
from tests.outbox_events import T0_S, ended, started

pytestmark = pytest.mark.integration
TOKEN = "PAY0123456789ABCDEF0"
SETTLED = SettlementRecorded(
    1, "c1:1", TOKEN, SettlementStatus.SETTLED, Money(Decimal("12.34"), Currency.of("EUR")),
    T0_S + 3700, "site1-00000001",
)  # fmt: skip


ISSUED = PaymentTokenIssued("c1:1", TOKEN, Money(Decimal("25.00"), Currency.of("EUR")), T0_S)


def sent(uplink: OcppUplink) -> int:
    """Messages the sender has had answered (the CSMS notes a call before it answers)."""
    session = uplink.sessions.get("site1")
    return 0 if session is None else session.sender.sent


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
async def test_settlement_reaches_the_csms_once_after_the_session(
    tmp_path: Path, version: str
) -> None:
    site = FakeSite()
    site.set("c1:1", Availability.AVAILABLE)
    async with (
        strict_peer(protocols=f"ocpp{version}") as peer,
        open_outbox(tmp_path / "db.sqlite") as outbox,
    ):
        await outbox.append("site1", ISSUED)
        await outbox.append("site1", started(1, "c1:1", 1000, id_tag=TOKEN))
        await outbox.append("site1", ended(1, 31_850, "c1:1", reason=StopReason.COST_LIMIT))
        await outbox.append("site1", SETTLED)
        settings = settings_for(f"ws://127.0.0.1:{peer.port}", version=[version])
        async with running_uplink(settings, site, outbox, tmp_path, {"c1": 1}) as up:
            # The connection also queues its StartupOfTheDevice security event, sent (or, to a
            # 1.6 CSMS without the security extension, parked) around the session's messages:
            # at least the three are answered, then nothing is left pending.
            await wait_for(lambda: sent(up) >= 4)
            for _ in range(500):
                if await outbox.backlog() == 0:
                    break
                await asyncio.sleep(0.02)
        assert await outbox.backlog() == 0
    assert peer.invalid() == []
    # The token was told first: a DataTransfer of the site's vendor id, then the start.
    (told,) = [c for c in peer.calls("DataTransfer") if c["params"]["messageId"] == "PaymentToken"]
    assert told["params"]["vendorId"] == "edge_controller"
    data = json.loads(told["params"]["data"])
    assert (data["idTag"], data["connectorId"]) == (TOKEN, 1)
    assert (Decimal(data["amount"]), data["currency"]) == (Decimal("25.00"), "EUR")
    order = [c["action"] for c in peer.calls() if c["action"] in ("DataTransfer",
             "StartTransaction", "TransactionEvent")]  # fmt: skip
    assert order[0] == "DataTransfer"
    if version == "2.1":
        (call,) = peer.calls("NotifySettlement")
        settlement = call["params"]
        started_tx = peer.calls("TransactionEvent")[0]["params"]["transactionInfo"]
        assert settlement["transactionId"] == started_tx["transactionId"]
        assert settlement["pspRef"] == TOKEN and settlement["status"] == "Settled"
        assert settlement["settlementAmount"] == 12.34
        assert settlement["receiptId"] == "site1-00000001"
        assert settlement["settlementTime"].startswith("2026-11-27T01:01:40")
        ended_tx = peer.calls("TransactionEvent")[-1]["params"]
        assert ended_tx["triggerReason"] == "CostLimitReached"
        assert ended_tx["transactionInfo"]["stoppedReason"] == "LocalOutOfCredit"
        return
    assert peer.calls("NotifySettlement") == []
    (transfer,) = [
        c["params"] for c in peer.calls("DataTransfer") if c["params"]["messageId"] == "FinalCost"
    ]
    assert transfer["vendorId"] == "org.openchargealliance.costmsg"
    assert transfer["messageId"] == "FinalCost"
    data = json.loads(transfer["data"])
    assert data["cost"] == 12.34 and TOKEN in data["priceText"]
    if version == "1.6":
        stop = peer.calls("StopTransaction")[0]["params"]
        assert data["transactionId"] == stop["transactionId"]
        assert stop["reason"] == "Other"
    else:
        started_tx = peer.calls("TransactionEvent")[0]["params"]["transactionInfo"]
        assert data["transactionId"] == started_tx["transactionId"]
        ended_tx = peer.calls("TransactionEvent")[-1]["params"]
        assert ended_tx["triggerReason"] == "StopAuthorized"
