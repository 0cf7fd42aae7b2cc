"""The ``payments`` section builds one flow per terminal, each speaking ZVT to its own terminal
with its configured address, password, currency and reservation (the simulated terminal checks
the password and records every booking)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_controller.app.payments import payment_flows
from edge_controller.config import load_settings
from edge_controller.sim.zvt_terminal import SimulatedZvtTerminal
from edge_controller.storage.database import Database
from tests.integration.payment.test_payment_flow import Sessions
from tests.unit.config.test_payments_settings import PRICED
from tests.unit.config.test_settings import GOOD
from tests.unit.conftest import PROFILES

TERMINALS = """\
payments:
  terminals:
    entrance:
      host: 127.0.0.1
      port: {entrance}
      password: "246810"
      connectors: ["wb1:1"]
      pre_authorisation_amount: "25.00"
    garage:
      host: 127.0.0.1
      port: {garage}
      password: "135790"
      connectors: ["wb2:1"]
      pre_authorisation_amount: "40.00"
"""


@pytest.fixture
async def sims() -> AsyncIterator[tuple[SimulatedZvtTerminal, SimulatedZvtTerminal]]:
    entrance, garage = SimulatedZvtTerminal(password=246810), SimulatedZvtTerminal(password=135790)
    await entrance.start()
    await garage.start()
    yield entrance, garage
    await garage.stop()
    await entrance.stop()


async def test_each_configured_terminal_gets_its_flow(
    sims: tuple[SimulatedZvtTerminal, SimulatedZvtTerminal], tmp_path: Path
) -> None:
    entrance, garage = sims
    path = tmp_path / "site.yaml"
    path.write_text(PRICED + TERMINALS.format(entrance=entrance.port, garage=garage.port))
    settings = load_settings(path, PROFILES)
    db = await Database.open(tmp_path / "edge.db")
    try:
        flows = payment_flows(settings, db)
        assert sorted(flows) == ["entrance", "garage"]
        sessions = Sessions(db)
        await flows["garage"].pay_and_start("wb2:1", sessions.start)
        assert garage.ledger.reservations[1].amount_minor == 4000  # garage's configured amount
        await sessions.stop_and_price(1, 2345)
        assert await flows["entrance"].settle_due() == 0
        assert await flows["garage"].settle_due() == 1
        assert garage.ledger.captures == [(1, 2345)] and entrance.ledger.captures == []
    finally:
        await db.close()


async def test_no_payments_section_builds_no_flow(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(GOOD)
    db = await Database.open(tmp_path / "edge.db")
    try:
        assert payment_flows(load_settings(path, PROFILES), db) == {}
    finally:
        await db.close()
