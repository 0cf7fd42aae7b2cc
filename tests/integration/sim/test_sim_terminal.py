"""`simulate` serves a ZVT terminal for each ``simulated: true`` payment terminal, on its
configured address and password, answering the daemon's driver over TCP."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from edge_controller.config.settings import Settings
from edge_controller.domain.payments import TerminalState
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.drivers.payment.zvt import ZvtSettings, ZvtTerminal
from edge_controller.ports import DeviceFault
from edge_controller.sim.site import running_site
from tests.integration.sim.conftest import site_config
from tests.ports import free_port

pytestmark = pytest.mark.integration


async def test_simulated_terminal_is_served_where_configured(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    port = free_port()
    config["payments"] = {
        "terminals": {
            "entrance": {
                "host": "127.0.0.1",
                "port": port,
                "password": "246810",
                "connectors": ["keba:1"],
                "pre_authorisation_amount": "40.00",
                "simulated": True,
            }
        }
    }
    async with running_site(Settings.model_validate(config)) as sim:
        terminal = ZvtTerminal(ZvtSettings("127.0.0.1", port, password=246810))
        assert (await terminal.status()).state == TerminalState.READY
        auth = await terminal.pre_authorise(Money(Decimal("40.00"), Currency.of("EUR")))
        assert sim.terminals["entrance"].ledger.reservations[1].amount_minor == 4000
        assert auth.amount.minor == 4000
        with pytest.raises(DeviceFault, match="9E"):  # the configured password is checked
            await ZvtTerminal(ZvtSettings("127.0.0.1", port, password=111111)).status()
