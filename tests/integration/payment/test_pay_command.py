"""Paying at the terminal through the command port, on the real session side and a simulated
ZVT terminal over TCP: an approved pre-authorisation starts the session with the payment's
reference as its token (no local list, no CSMS); a declined card or a connector with no EV
starts nothing and keeps no reservation; the stopped, priced session is captured once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from edge_controller.app.commands import CommandPort
from edge_controller.app.payments import max_cost_of, running_cost_of
from edge_controller.domain.commands import Origin, PayAtTerminal, StopSession
from edge_controller.domain.model import Token
from edge_controller.domain.payments import UNPRICED, SettlementRecorded, SettlementStatus
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.domain.pricing.recorded import Reading
from edge_controller.drivers.payment.zvt import ZvtSettings, ZvtTerminal
from edge_controller.services.payments import CostLimits, PaymentFlow, TerminalPlace
from edge_controller.sim.zvt_terminal import Behaviour, SimulatedZvtTerminal
from edge_controller.storage.outbox.codec import decode
from edge_controller.storage.payments_store import PaymentState, PaymentStore, SettlementOutbox
from edge_controller.storage.tariff_store import SITE
from tests.integration.mqtt.conftest import wait_until
from tests.integration.ocpp.sessions_site import CARD, Controller, LiveSite, live_site
from tests.integration.payment.settling import charged_and_ended, settled
from tests.integration.sim.conftest import eventually

PASSWORD = 654321
EUR = Currency.of("EUR")
TARIFF = {"id": "t1", "currency": "EUR", "energy": {"prices": [{"price_per_kwh": "0.40"}]}}


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedZvtTerminal]:
    terminal = SimulatedZvtTerminal(password=PASSWORD)
    await terminal.start()
    yield terminal
    await terminal.stop()


def paying(
    site: LiveSite, sim: SimulatedZvtTerminal, plug_timeout_s: float = 60.0
) -> tuple[CommandPort, PaymentFlow]:
    """The daemon's command port, with the terminal serving c1:1 (c1:2 has none), its
    reservation capped by the tariff's max cost as the daemon wires it."""
    assert site.db is not None
    terminal = ZvtTerminal(ZvtSettings("127.0.0.1", sim.port, password=PASSWORD))
    place = TerminalPlace("entrance", Money(Decimal("50.00"), EUR), plug_timeout_s=plug_timeout_s)
    cap = None if site.pricing is None else max_cost_of(site.pricing)
    flow = PaymentFlow(place, terminal, PaymentStore(site.db), site.clock, cap)
    return CommandPort(cast(Any, Controller()), site.manager, {"c1:1": flow}), flow


def store(site: LiveSite) -> PaymentStore:
    assert site.db is not None
    return PaymentStore(site.db)


async def test_approved_payment_starts_and_settles_the_session_once(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    async with live_site(tmp_path, {SITE: TARIFF}) as (site, _outbox):
        commands, flow = paying(site, sim)
        await site.plug("c1:1")
        result = await commands.decide(PayAtTerminal("c1:1", Origin.MQTT))
        assert result.ok, result.error
        session = site.manager.open_session("c1:1")
        assert session is not None
        payment = await store(site).by_token(session.id_tag)  # the token names the payment
        assert payment is not None and payment.state is PaymentState.STARTED
        assert payment.session_local_id == session.local_id
        assert sim.ledger.reservations[1].amount_minor == 5000
        assert await flow.settle_due() == 0  # still charging
        await charged_and_ended(site, commands, "c1:1", 10_000, 3600)  # an hour of charging
        await settled(flow)
        assert sim.ledger.captures == [(1, 400)]  # 10 kWh at 0.40 EUR
        assert await flow.settle_due() == 0
        assert sim.ledger.captures == [(1, 400)]


async def test_declined_card_starts_nothing(sim: SimulatedZvtTerminal, tmp_path: Path) -> None:
    async with live_site(tmp_path) as (site, _outbox):
        commands, _flow = paying(site, sim)
        sim.behaviour = Behaviour.DECLINE
        await site.plug("c1:1")
        result = await commands.decide(PayAtTerminal("c1:1", Origin.MQTT))
        assert not result.ok and result.error is not None and "not approved" in result.error
        assert site.manager.open_session("c1:1") is None
        assert sim.ledger.captures == []


async def test_no_ev_within_the_plug_time_releases_the_reservation(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    async with live_site(tmp_path) as (site, _outbox):
        commands, _flow = paying(site, sim, plug_timeout_s=0.5)
        result = await commands.decide(PayAtTerminal("c1:1", Origin.MQTT))
        assert not result.ok and "no EV plugged in" in (result.error or "")
        assert site.manager.open_session("c1:1") is None
        assert sim.ledger.reversals == [1]
        assert await store(site).unstarted() == []
        await site.plug("c1:1")  # too late: nothing starts on the withdrawn payment
        assert site.manager.open_session("c1:1") is None


async def test_driver_pays_first_then_plugs_in(sim: SimulatedZvtTerminal, tmp_path: Path) -> None:
    async with live_site(tmp_path, {SITE: TARIFF}) as (site, _outbox):
        commands, flow = paying(site, sim, plug_timeout_s=30.0)
        paying_task = asyncio.create_task(commands.decide(PayAtTerminal("c1:1", Origin.MQTT)))
        await wait_until(lambda: bool(sim.ledger.reservations))
        await asyncio.sleep(0.3)  # the driver walks to the EV
        await flow.reverse_unstarted()  # the flow's periodic sweep meanwhile
        await site.plug("c1:1")
        result = await paying_task
        assert result.ok, result.error
        session = site.manager.open_session("c1:1")
        assert session is not None
        payment = await store(site).by_token(session.id_tag)
        assert payment is not None and payment.state is PaymentState.STARTED
        assert sim.ledger.reversals == []
        await charged_and_ended(site, commands, "c1:1", 5_000, 1800)
        await settled(flow)
        assert sim.ledger.captures == [(1, 200)]  # 5 kWh at 0.40 EUR


async def test_reservation_is_capped_by_the_tariff_max_cost(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    """50.00 configured, the connector's tariff costs at most 20.00 incl. tax: 20.00 is
    reserved; a session that would cost more is captured at 20.00."""
    capped = {**TARIFF, "max_cost": {"incl_tax": "20.00"}}
    async with live_site(tmp_path, {SITE: capped}) as (site, _outbox):
        commands, flow = paying(site, sim)
        await site.plug("c1:1")
        result = await commands.decide(PayAtTerminal("c1:1", Origin.MQTT))
        assert result.ok, result.error
        assert sim.ledger.reservations[1].amount_minor == 2000
        # 60 kWh: 24.00 EUR at 0.40 without the cap
        await charged_and_ended(site, commands, "c1:1", 60_000, 3 * 3600)
        await settled(flow)
        assert sim.ledger.captures == [(1, 2000)]


async def test_connector_without_terminal_is_refused(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    async with live_site(tmp_path) as (site, _outbox):
        commands, _flow = paying(site, sim)
        await site.plug("c1:2")
        result = await commands.decide(PayAtTerminal("c1:2", Origin.MQTT))
        assert not result.ok and "no card terminal" in (result.error or "")
        assert sim.ledger.reservations == {}


async def test_paid_session_stops_at_its_reservation_and_captures_exactly_it(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    """2.00 EUR reserved at 0.40 EUR/kWh, a reading per kWh: at 4 kWh (1.60) the next reading
    is projected to exactly 2.00 and the session goes on; at 5 kWh it reached 2.00 and is
    stopped as CostLimitReached; exactly 2.00 is captured and no kWh ran past it."""
    async with live_site(tmp_path, {SITE: TARIFF}) as (site, _outbox):
        assert site.db is not None and site.pricing is not None
        flow = PaymentFlow(
            TerminalPlace("entrance", Money(Decimal("2.00"), EUR)),
            ZvtTerminal(ZvtSettings("127.0.0.1", sim.port, password=PASSWORD)),
            PaymentStore(site.db),
            site.clock,
        )
        commands = CommandPort(cast(Any, Controller()), site.manager, {"c1:1": flow})
        limits = CostLimits(PaymentStore(site.db), running_cost_of(site.pricing), commands.decide)
        await site.plug("c1:1")
        assert (await commands.decide(PayAtTerminal("c1:1", Origin.MQTT))).ok
        session = site.manager.open_session("c1:1")
        assert session is not None
        start_wh = site.meters["c1:1"].energy_wh
        for kwh in (1, 2, 3, 4, 5):  # readings as the session records them
            site.clock.now_s += 900
            site.meters["c1:1"].energy_wh = start_wh + kwh * 1000
            reading = Reading(site.clock.now_s, round(start_wh) + kwh * 1000)
            site.pricing.reading(session.local_id, "c1:1", reading)
            await site.pricing.refresh()
            stopped = await limits.check()
            assert stopped == ([] if kwh < 5 else ["c1:1"])
        assert site.manager.open_session("c1:1") is None
        assert await limits.check() == []  # stopped once
        await site.unplug("c1:1")
        await settled(flow)
        assert sim.ledger.captures == [(1, 200)]
        reason = await site.db.read(
            lambda conn: conn.execute("SELECT stop_reason FROM sessions").fetchone()[0]
        )
        assert reason == "CostLimitReached"
        priced = await site.db.read(
            lambda conn: conn.execute(
                "SELECT total_incl_tax_minor, breakdown FROM session_costs"
            ).fetchone()
        )
        # the session costs what was paid: revenue and settlement agree, 5 kWh and no more
        assert priced[0] == 200 and '"type_of_cost":"normal"' in priced[1]
        energy = await site.db.read(
            lambda conn: conn.execute(
                "SELECT meter_stop_wh - meter_start_wh FROM sessions"
            ).fetchone()[0]
        )
        assert energy == 5000


async def test_csms_refusing_the_payment_token_does_not_stop_the_paid_session(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    """An OCPP 1.6 CSMS does not know the payment's token and answers the StartTransaction
    Invalid: the card approval authorised the session, which charges on (an RFID session
    refused so is stopped, as StopTransactionOnInvalidId says)."""
    async with live_site(tmp_path) as (site, _outbox):
        commands, _flow = paying(site, sim)
        await site.plug("c1:1")
        assert (await commands.decide(PayAtTerminal("c1:1", Origin.MQTT))).ok
        paid = site.manager.open_session("c1:1")
        assert paid is not None
        await site.plug("c1:2")
        await site.manager.on_token(Token(CARD), "c1:2")
        card = site.manager.open_session("c1:2")
        assert card is not None
        site.manager.transaction_confirmed(paid.local_id, 1, "Invalid")
        site.manager.transaction_confirmed(card.local_id, 2, "Invalid")
        await wait_until(lambda: site.manager.open_session("c1:2") is None)
        await asyncio.sleep(0.2)  # the refusals are applied in order: the paid one went first
        assert site.manager.open_session("c1:1") == paid


async def test_a_tariff_cleared_by_the_csms_refuses_payment_before_the_terminal_is_armed(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    """The CSMS cleared the connector's only tariff (ClearTariffs, 1.6 costmsg; the config
    has none to fall back to): a card paid session there could never be priced, so the pay
    command says why and the terminal never sees a pre-authorisation."""
    async with live_site(tmp_path, {}) as (site, _outbox):
        assert site.pricing is not None
        assert await site.pricing.assign("c1:1", TARIFF, "csms") is None
        assert await site.pricing.clear("c1:1", "csms") == "t1"
        commands, _flow = paying(site, sim)
        await site.plug("c1:1")
        result = await commands.decide(PayAtTerminal("c1:1", Origin.MQTT))
        assert not result.ok
        assert result.error == "c1:1: no tariff prices a session here; card payment refused"
        assert sim.ledger.reservations == {}
        assert site.manager.open_session("c1:1") is None


async def recorded_as(site: LiveSite, token: str, state: PaymentState) -> bool:
    """Whether the payment behind ``token`` is recorded in ``state``."""
    payment = await store(site).by_token(token)
    return payment is not None and payment.state is state


async def test_a_paid_session_that_ends_unpriced_is_reversed_and_told(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    """The driver pays first; the CSMS clears the tariff before the EV is plugged in, so the
    session starts without one and is never priced. Its reservation is not left open: the
    flow reverses it (nothing is charged for the 2 kWh) and records a Canceled settlement."""
    outbox = SettlementOutbox("site1", lambda _c: "site1")
    async with live_site(tmp_path, {}) as (site, _outbox):
        assert site.pricing is not None and site.db is not None
        assert await site.pricing.assign("c1:1", TARIFF, "csms") is None
        flow = PaymentFlow(
            TerminalPlace("entrance", Money(Decimal("50.00"), EUR), poll_s=0.05),
            ZvtTerminal(ZvtSettings("127.0.0.1", sim.port, password=PASSWORD)),
            PaymentStore(site.db, outbox), site.clock, max_cost_of(site.pricing),
        )  # fmt: skip
        commands = CommandPort(cast(Any, Controller()), site.manager, {"c1:1": flow})
        paying_task = asyncio.create_task(commands.decide(PayAtTerminal("c1:1", Origin.MQTT)))
        await wait_until(lambda: bool(sim.ledger.reservations))
        await site.pricing.clear("c1:1", "csms")
        await site.plug("c1:1")
        assert (await paying_task).ok
        session = site.manager.open_session("c1:1")
        assert session is not None and session.tariff is None
        site.meters["c1:1"].energy_wh += 2_000
        site.clock.now_s += 600
        await commands.decide(StopSession("c1:1", Origin.MQTT))
        await site.unplug("c1:1")
        sweeping = asyncio.create_task(flow.run())
        try:
            await wait_until(lambda: sim.ledger.reversals == [1], timeout_s=5.0)
            # The terminal's answer comes before the flow records it: stopping the sweep at the
            # answer (as a loaded machine showed) left the row started.
            await eventually(lambda: recorded_as(site, session.id_tag, PaymentState.REVERSED))
        finally:
            sweeping.cancel()
        assert sim.ledger.captures == []
        payment = await store(site).by_token(session.id_tag)
        assert payment is not None and payment.state is PaymentState.REVERSED
        assert payment.reason == UNPRICED
        rows = await site.db.read(lambda c: c.execute("SELECT event, body FROM outbox").fetchall())
        told = [decode(e, b) for e, b in rows if e == "settlement_recorded"]
        assert len(told) == 1 and isinstance(told[0], SettlementRecorded)
        assert told[0].status is SettlementStatus.CANCELED
        assert told[0].amount == Money(Decimal(0), EUR) and told[0].status_info == UNPRICED
        assert told[0].session_local_id == session.local_id
