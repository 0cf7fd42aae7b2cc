"""`simulate` serves a ZVT terminal for each ``simulated: true`` payment terminal, on its
configured address and password, answering the daemon's driver over TCP."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from edge_controller.config.settings import Settings
from edge_controller.domain.payments import TerminalState
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.drivers.payment.zvt import ZvtSettings, ZvtTerminal
from edge_controller.ports import DeviceFault, PaymentAborted, PaymentDeclined
from edge_controller.sim.control_client import SimControlClient, SimControlError
from edge_controller.sim.site import running_site
from tests.integration.sim.conftest import site_config
from tests.ports import free_port

pytestmark = pytest.mark.integration


def with_terminal(config: dict[str, Any], port: int) -> dict[str, Any]:
    config["payments"] = {
        "terminals": {
            "entrance": {
                "host": "127.0.0.1",
                "port": port,
                "password": "246810",
                "connectors": ["keba:1"],
                "pre_authorisation_amount": "40.00",
                "auto_arm": False,  # the simulated terminal approves at once
                "simulated": True,
            }
        }
    }
    return config


async def test_simulated_terminal_is_served_where_configured(tmp_path: Path) -> None:
    port = free_port()
    config = with_terminal(site_config(tmp_path), port)
    async with running_site(Settings.model_validate(config)) as sim:
        terminal = ZvtTerminal(ZvtSettings("127.0.0.1", port, password=246810))
        assert (await terminal.status()).state == TerminalState.READY
        auth = await terminal.pre_authorise(Money(Decimal("40.00"), Currency.of("EUR")))
        assert sim.terminals["entrance"].ledger.reservations[1].amount_minor == 4000
        assert auth.amount.minor == 4000
        with pytest.raises(DeviceFault, match="9E"):  # the configured password is checked
            await ZvtTerminal(ZvtSettings("127.0.0.1", port, password=111111)).status()


async def test_the_card_limit_is_set_through_the_control_api(tmp_path: Path) -> None:
    """The card's limit comes from the control API (not fixed at 20.00): at 15.00 a
    pre-authorisation of 15.01 is declined and one of 15.00 approved; a bad limit is refused by
    name and changes nothing."""
    port = free_port()
    config = with_terminal(site_config(tmp_path), port)
    eur = Currency.of("EUR")
    async with (
        running_site(Settings.model_validate(config)) as sim,
        SimControlClient(sim.control_url) as control,
    ):
        await control.terminal_behaviour("entrance", "amount_limit")
        await control.terminal_card_limit("entrance", 1500)
        with pytest.raises(SimControlError, match="card_limit_minor"):
            await control.terminal_card_limit("entrance", -1)
        assert (await control.terminal("entrance"))["card_limit_minor"] == 1500
        terminal = ZvtTerminal(ZvtSettings("127.0.0.1", port, password=246810))
        with pytest.raises(PaymentDeclined):
            await terminal.pre_authorise(Money(Decimal("15.01"), eur))
        assert (await terminal.pre_authorise(Money(Decimal("15.00"), eur))).amount.minor == 1500
        shown = await control.terminal("entrance")
        assert [r["amount_minor"] for r in shown["reservations"]] == [1500]


async def test_a_card_is_presented_and_an_abort_counted_through_the_control_api(
    tmp_path: Path,
) -> None:
    """A terminal that arms itself is simulated waiting for a card: a card presented while
    nothing waits is refused (409), one presented to the armed terminal is approved; an abort
    is counted."""
    port = free_port()
    config = with_terminal(site_config(tmp_path), port)
    del config["payments"]["terminals"]["entrance"]["auto_arm"]  # default: arms itself
    amount = Money(Decimal("40.00"), Currency.of("EUR"))
    async with (
        running_site(Settings.model_validate(config)) as sim,
        SimControlClient(sim.control_url) as control,
    ):
        assert (await control.terminal("entrance"))["wait_for_card"]
        with pytest.raises(SimControlError, match="not armed"):
            await control.present_card("entrance")
        with pytest.raises(SimControlError, match="authorising_s"):
            await control.terminal_card_wait("entrance", True, authorising_s=31)
        terminal = ZvtTerminal(ZvtSettings("127.0.0.1", port, password=246810))
        pending = asyncio.ensure_future(terminal.pre_authorise(amount))
        await armed(control)
        assert await terminal.abort()
        with pytest.raises(PaymentAborted):
            await pending
        pending = asyncio.ensure_future(terminal.pre_authorise(amount))
        await armed(control)
        assert (await control.present_card("entrance"))["presented"]
        assert (await pending).amount.minor == 4000
        shown = await control.terminal("entrance")
        assert shown["aborts_by_ecr"] == 1 and shown["aborts_refused"] == 0
        assert [r["amount_minor"] for r in shown["reservations"]] == [4000]


async def armed(control: SimControlClient) -> None:
    """Until the simulated terminal waits for a card."""
    for _ in range(250):
        if (await control.terminal("entrance"))["waiting_for_card"]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the terminal never waited for a card")
