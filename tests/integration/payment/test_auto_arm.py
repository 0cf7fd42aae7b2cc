"""A terminal shared by two connectors arms itself for the only EV waiting there, on the real
session side and a simulated ZVT terminal over TCP that waits for a card: a card then starts the
session with the payment's token and its priced cost is captured at stop; a second EV, or the
EV started by a card at the reader, takes the armed payment back (06 B0) before any card; an EV
that leaves once the card was read gets its reservation reversed, and no settlement."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from structlog.testing import capture_logs

from edge_controller.app.commands import CommandPort
from edge_controller.app.payments import max_cost_of
from edge_controller.domain.commands import Origin, PayAtTerminal, StartSession, StopSession
from edge_controller.domain.payments import (
    NotArmed,
    SettlementRecorded,
    waiting_for_authorisation,
)
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.drivers.payment.zvt import ZvtSettings, ZvtTerminal
from edge_controller.services.payments import PaymentFlow, TerminalPlace
from edge_controller.services.payments.auto_arm import AutoArm
from edge_controller.sim.zvt_terminal import Behaviour, SimulatedZvtTerminal
from edge_controller.storage.outbox.codec import decode
from edge_controller.storage.payments_store import PaymentState, PaymentStore, SettlementOutbox
from edge_controller.storage.tariff_store import SITE
from edge_controller.web.display_model import DisplaySetup, terminal_model
from tests.integration.mqtt.conftest import wait_until
from tests.integration.ocpp.sessions_site import CARD, Controller, LiveSite, live_site
from tests.integration.payment.settling import settled

PASSWORD = 654321
EUR = Currency.of("EUR")
TARIFF = {"id": "t1", "currency": "EUR", "energy": {"prices": [{"price_per_kwh": "0.40"}]}}
SERVED = ("c1:1", "c1:2")


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedZvtTerminal]:
    terminal = SimulatedZvtTerminal(password=PASSWORD)
    terminal.wait_for_card = True  # an unattended terminal waits for the card holder
    await terminal.start()
    yield terminal
    await terminal.stop()


@dataclass
class Armed:
    site: LiveSite
    flow: PaymentFlow
    commands: CommandPort
    arm: AutoArm
    running: asyncio.Task[None]  # the service's run, as the daemon's task group has it

    async def settlements(self) -> list[SettlementRecorded]:
        assert self.site.db is not None
        rows = await self.site.db.read(
            lambda c: c.execute("SELECT event, body FROM outbox").fetchall()
        )
        return [decode(e, b) for e, b in rows if e == "settlement_recorded"]


@asynccontextmanager
async def arming(
    tmp_path: Path,
    sim: SimulatedZvtTerminal,
    plug_timeout_s: float = 60.0,
    message_timeout_s: float = 60.0,
) -> AsyncIterator[Armed]:
    """The daemon's wiring of a self-arming terminal serving c1:1 and c1:2, running."""
    outbox = SettlementOutbox("site1", lambda _c: "site1")
    async with live_site(tmp_path, {SITE: TARIFF}) as (site, _outbox):
        assert site.db is not None and site.pricing is not None
        place = TerminalPlace("lobby", Money(Decimal("30.00"), EUR), plug_timeout_s=plug_timeout_s)
        terminal = ZvtTerminal(
            ZvtSettings("127.0.0.1", sim.port, password=PASSWORD,
                        message_timeout_s=message_timeout_s)
        )  # fmt: skip
        store = PaymentStore(site.db, outbox)
        flow = PaymentFlow(place, terminal, store, site.clock, max_cost_of(site.pricing))
        commands = CommandPort(cast(Any, Controller()), site.manager, dict.fromkeys(SERVED, flow))
        arm = AutoArm(
            SERVED, flow, commands.pay_armed, lambda: waiting_for_authorisation(site.connectors()),
            poll_s=0.05, rearm_s=0.2,
        )  # fmt: skip
        commands.arm_with(dict.fromkeys(SERVED, arm))
        running = asyncio.create_task(arm.run())
        try:
            yield Armed(site, flow, commands, arm, running)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


def shown(armed: Armed, language: str = "en") -> dict[str, Any]:
    """The terminal's box on the site display, from the service's decision."""
    setup = DisplaySetup("site1", SERVED, terminals={"lobby": SERVED})
    waiting = waiting_for_authorisation(armed.site.connectors())
    return terminal_model("lobby", setup, waiting, language, armed.arm.decision)


async def armed_for(armed: Armed, sim: SimulatedZvtTerminal, connector_id: str) -> None:
    await wait_until(lambda: sim.waiting_for_card and armed.arm.armed_for == connector_id)


async def test_the_only_waiting_ev_is_paid_by_card_and_its_cost_captured(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    async with arming(tmp_path, sim) as armed:
        site = armed.site
        assert shown(armed)["state"] == "none"
        await site.plug("c1:2")
        await armed_for(armed, sim, "c1:2")
        box = shown(armed)
        assert box["state"] == "armed" and box["for"] == "c1:2"
        assert "Ready for the car at c1:2" in box["note_text"]
        assert sim.present_card()
        await wait_until(lambda: site.manager.open_session("c1:2") is not None)
        session = site.manager.open_session("c1:2")
        assert session is not None and session.id_tag.startswith("PAY")
        payment = await PaymentStore(cast(Any, site.db)).by_token(session.id_tag)
        assert payment is not None and payment.state is PaymentState.STARTED
        assert payment.connector_id == "c1:2"
        site.meters["c1:2"].energy_wh += 12_345
        site.clock.now_s += 3600
        await armed.commands.decide(StopSession("c1:2", Origin.MQTT))
        await site.unplug("c1:2")
        await settled(armed.flow)
        priced = await cast(Any, site.db).read(
            lambda c: c.execute("SELECT total_incl_tax_minor FROM session_costs").fetchone()[0]
        )
        assert priced == 494  # 12.345 kWh at 0.40 EUR, rounded half up
        assert sim.ledger.captures == [(1, priced)]
        (told,) = await armed.settlements()
        assert told.amount == Money.of_minor(priced, EUR) and told.connector_id == "c1:2"
        assert sim.ledger.aborts_by_ecr == 0


async def test_a_second_ev_before_the_card_takes_the_armed_payment_back(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    async with arming(tmp_path, sim) as armed:
        await armed.site.plug("c1:1")
        await armed_for(armed, sim, "c1:1")
        await armed.site.plug("c1:2")
        await wait_until(lambda: sim.ledger.aborts_by_ecr == 1 and armed.arm.armed_for is None)
        assert armed.arm.decision.reason is NotArmed.SEVERAL_WAITING
        assert not sim.present_card()  # the terminal takes no card now
        box = shown(armed)
        assert box["state"] == "ambiguous" and box["for"] is None
        assert "Choose your connector" in box["note_text"] and "c1:1, c1:2" in box["note_text"]
        assert "Wählen Sie Ihren Ladepunkt" in shown(armed, "de")["note_text"]
        assert sim.ledger.reservations == {} and sim.ledger.aborts_refused == 0
        assert armed.site.manager.open_session("c1:1") is None
        await armed.site.unplug("c1:2")  # one EV waits again: armed for it once more
        await armed_for(armed, sim, "c1:1")


async def test_an_ev_started_at_the_reader_meanwhile_takes_it_back_and_nothing_is_captured(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    async with arming(tmp_path, sim) as armed:
        site = armed.site
        await site.plug("c1:1")
        await armed_for(armed, sim, "c1:1")
        started = await armed.commands.decide(StartSession("c1:1", CARD, Origin.CARD))
        assert started.ok, started.error
        await wait_until(lambda: sim.ledger.aborts_by_ecr == 1 and armed.arm.armed_for is None)
        session = site.manager.open_session("c1:1")
        assert session is not None and session.id_tag == CARD
        site.meters["c1:1"].energy_wh += 2_000
        site.clock.now_s += 600
        await armed.commands.decide(StopSession("c1:1", Origin.MQTT))
        await site.unplug("c1:1")
        await asyncio.sleep(0.2)
        assert await armed.flow.settle_due() == 0
        assert sim.ledger.reservations == {} and sim.ledger.captures == []
        assert await armed.settlements() == []


async def payment_rows_become(
    site: Any, expected: list[tuple[str, int]], timeout_s: float = 5.0
) -> list[tuple[str, int]]:
    """The payments table's (state, authorised_minor) rows once they equal ``expected``, or as
    they are when ``timeout_s`` has passed."""
    loop = asyncio.get_running_loop()
    deadline_s = loop.time() + timeout_s
    while True:
        rows = await cast(Any, site.db).read(
            lambda c: c.execute("SELECT state, authorised_minor FROM payments").fetchall()
        )
        found = [tuple(r) for r in rows]
        if found == expected or loop.time() >= deadline_s:
            return found
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("authorising_s", "plug_timeout_s"),
    [(1.0, 0.5), (0.5, 60.0)],
    ids=["plug_timeout_0.5s", "plug_timeout_60s"],
)
async def test_an_ev_leaving_after_the_card_was_read_gets_the_reservation_reversed_at_once(
    sim: SimulatedZvtTerminal, tmp_path: Path, authorising_s: float, plug_timeout_s: float
) -> None:
    """The EV leaves while its card is authorised: the terminal refuses the take-back, the
    payment is approved, its session cannot start without the EV. The EV is known gone, so the
    30.00 reserved are released when the approval comes, whatever the terminal's plug timeout
    (not after the minute a driver who paid first has to plug in); nothing left open, nothing
    settled."""
    sim.authorising_s = authorising_s
    async with arming(tmp_path, sim, plug_timeout_s=plug_timeout_s) as armed:
        site = armed.site
        await site.plug("c1:1")
        await armed_for(armed, sim, "c1:1")
        assert sim.present_card()
        await site.unplug("c1:1")
        await wait_until(lambda: sim.ledger.aborts_refused == 1)
        await wait_until(lambda: sim.ledger.reversals == [1], timeout_s=10.0)
        assert sim.ledger.reservations[1].amount_minor == 3000
        assert sim.ledger.reservations[1].reversed and sim.ledger.captures == []
        # The terminal's answer comes before the daemon records it: a loaded machine showed the
        # row still authorised just after the terminal had reversed.
        assert await payment_rows_become(site, [("reversed", 3000)]) == [("reversed", 3000)]
        assert await PaymentStore(cast(Any, site.db)).unstarted() == []  # nothing left open
        assert site.manager.open_session("c1:1") is None
        assert await armed.settlements() == []  # no paid session: no settlement


async def test_a_busy_terminal_is_shown_busy_and_asked_again_soon(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    """The terminal refuses the pre-authorisation as busy (84 9C): the display says busy, not
    offline, and the terminal is armed again within seconds once it is free."""
    sim.behaviour = Behaviour.BUSY
    async with arming(tmp_path, sim) as armed:
        await armed.site.plug("c1:1")
        await wait_until(lambda: armed.arm.decision.reason is NotArmed.TERMINAL_BUSY)
        box = shown(armed)
        assert box["state"] == "busy" and box["for"] is None
        assert armed.arm.decision.waiting == ("c1:1",)
        sim.behaviour = Behaviour.APPROVE
        await armed_for(armed, sim, "c1:1")  # after busy_s (2 s), not the 30 s of offline
        assert sim.present_card()
        await wait_until(lambda: armed.site.manager.open_session("c1:1") is not None)
        assert list(sim.ledger.reservations) == [1]


async def test_an_offline_terminal_is_shown_offline_and_left_alone_a_while(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    """Nothing listens where the terminal was: the display says offline and it is not asked
    again at every poll (backoff), unlike a busy one."""
    await sim.stop()
    async with arming(tmp_path, sim) as armed:
        await armed.site.plug("c1:1")
        await wait_until(lambda: armed.arm.decision.reason is NotArmed.TERMINAL_OFFLINE)
        box = shown(armed)
        assert box["state"] == "offline" and box["for"] is None
        await asyncio.sleep(1.0)  # busy_s would have asked it again by now
        assert armed.arm.decision.reason is NotArmed.TERMINAL_OFFLINE
        assert armed.arm.armed_for is None and sim.ledger.commands == []


async def test_a_press_for_the_armed_connector_joins_its_payment(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    """The driver also taps "Pay by card" for the connector the terminal is armed for: one
    card, one reservation, and the press tells the outcome."""
    async with arming(tmp_path, sim) as armed:
        await armed.site.plug("c1:1")
        await armed_for(armed, sim, "c1:1")
        pressed = asyncio.create_task(armed.commands.decide(PayAtTerminal("c1:1", Origin.WEB)))
        await asyncio.sleep(0.2)
        assert sim.present_card()
        result = await pressed
        assert result.ok, result.error
        assert list(sim.ledger.reservations) == [1] and sim.ledger.aborts_by_ecr == 0
        session = armed.site.manager.open_session("c1:1")
        assert session is not None and session.id_tag.startswith("PAY")


async def test_a_press_while_the_arming_is_taken_back_pays_once_the_abort_is_done(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    """A second EV plugs in: the armed payment is taken back, and the terminal is slow to
    acknowledge the abort. The driver at the first connector taps "Pay by card" meanwhile: the
    press does not take the cancelled payment's outcome, it pays once the abort is done."""
    sim.abort_answer_s = 1.0
    async with arming(tmp_path, sim) as armed:
        await armed.site.plug("c1:1")
        await armed_for(armed, sim, "c1:1")
        await armed.site.plug("c1:2")
        await wait_until(lambda: sim.ledger.aborts_by_ecr == 1)
        assert armed.arm.armed_for == "c1:1"  # the abort is not acknowledged yet
        pressed = asyncio.create_task(armed.commands.decide(PayAtTerminal("c1:1", Origin.WEB)))
        await wait_until(lambda: sim.waiting_for_card and armed.arm.armed_for is None)
        assert not pressed.done()
        assert sim.present_card()
        result = await pressed
        assert result.ok, result.error
        session = armed.site.manager.open_session("c1:1")
        assert session is not None and session.id_tag.startswith("PAY")
        assert armed.site.manager.open_session("c1:2") is None
        assert list(sim.ledger.reservations) == [1] and sim.ledger.aborts_by_ecr == 1
        payment = await PaymentStore(cast(Any, armed.site.db)).by_token(session.id_tag)
        assert payment is not None and payment.connector_id == "c1:1"
        assert payment.authorisation.amount == Money(Decimal("30.00"), EUR)


async def test_a_paid_arming_is_not_taken_back_while_its_session_opens(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    """The card is approved and the payment's session opens (its meter slow to answer): once
    the session is there the EV no longer waits for authorisation, while the payment still
    looks for its session. The terminal has answered, so no abort is asked of it (nor logged)
    for the payment."""
    with capture_logs() as logs:
        async with arming(tmp_path, sim) as armed:
            site = armed.site
            await site.plug("c1:1")
            await armed_for(armed, sim, "c1:1")
            site.meters["c1:1"].free.clear()
            assert sim.present_card()
            await wait_until(lambda: list(sim.ledger.reservations) == [1])
            await wait_until(lambda: not armed.flow.authorising)
            await asyncio.sleep(0.3)  # the paid start looks for its session meanwhile
            assert armed.arm.armed_for == "c1:1"
            site.meters["c1:1"].free.set()
            await wait_until(lambda: not waiting_for_authorisation(site.connectors()))
            await wait_until(lambda: armed.arm.armed_for is None)
            await asyncio.sleep(0.2)  # several of the service's polls (0.05 s) after it
            session = site.manager.open_session("c1:1")
            assert session is not None and session.id_tag.startswith("PAY")
    events = [line["event"] for line in logs]
    assert "armed payment ended" in events
    assert not {"armed payment goes on", "armed payment taken back", "abort"} & set(events)
    assert sim.ledger.aborts_by_ecr == 0 and list(sim.ledger.reservations) == [1]


async def test_a_terminal_waiting_long_for_a_card_is_armed_again_not_taken_for_offline(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    """Nobody holds a card to it within the driver's message timeout: the pre-authorisation is
    taken back and the terminal armed again at once for the same EV."""
    async with arming(tmp_path, sim, message_timeout_s=0.3) as armed:
        await armed.site.plug("c1:1")
        await wait_until(lambda: sim.ledger.aborts_by_ecr >= 2)
        assert armed.arm.decision.reason is None and armed.arm.decision.connector_id == "c1:1"
        await armed_for(armed, sim, "c1:1")
        assert sim.present_card()
        await wait_until(lambda: armed.site.manager.open_session("c1:1") is not None)
        assert list(sim.ledger.reservations) == [1]


async def test_a_daemon_stopping_leaves_no_terminal_waiting_for_a_card(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    """The service is stopped (SIGTERM) while the terminal is armed: it takes the payment back
    first, so no card is taken for a session nobody will start."""
    async with arming(tmp_path, sim) as armed:
        await armed.site.plug("c1:1")
        await armed_for(armed, sim, "c1:1")
        armed.running.cancel()
        await asyncio.gather(armed.running, return_exceptions=True)
        assert sim.ledger.aborts_by_ecr == 1 and not sim.waiting_for_card
        assert sim.ledger.reservations == {}
