"""The card payment flow against the simulated ZVT terminal over TCP and a real SQLite store:
the reservation is capped by the tariff's max cost, the session's priced cost is captured once
(also across a restart between stop and capture), a session that never starts is reversed."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from edge_controller.domain.payments import (
    NoTariff,
    SettlementRecorded,
    SettlementStatus,
    session_token,
)
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.drivers.payment.zvt import ZvtSettings, ZvtTerminal
from edge_controller.ports import PaymentDeclined
from edge_controller.services.payments import PaymentFlow, TerminalPlace
from edge_controller.sim.zvt_terminal import Behaviour, SimulatedZvtTerminal
from edge_controller.storage.database import Database
from edge_controller.storage.outbox.codec import decode
from edge_controller.storage.payments_store import (
    PaymentKey,
    PaymentState,
    PaymentStore,
    SettlementOutbox,
)
from tests.integration.mqtt.conftest import wait_until

EUR = Currency.of("EUR")
PASSWORD = 123456


def eur(text: str) -> Money:
    return Money(Decimal(text), EUR)


class Clock:
    def __init__(self) -> None:
        self.now_s = 1_780_000_000.0

    def __call__(self) -> float:
        self.now_s += 1
        return self.now_s


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedZvtTerminal]:
    terminal = SimulatedZvtTerminal(password=PASSWORD)
    await terminal.start()
    yield terminal
    await terminal.stop()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "edge.db")
    yield database
    await database.close()


def flow(sim: SimulatedZvtTerminal, db: Database, cap: Money | None = None) -> PaymentFlow:
    """The entrance terminal's flow; ``cap``: the max cost of every connector's tariff."""
    settings = ZvtSettings("127.0.0.1", sim.port, password=PASSWORD)
    place = TerminalPlace("entrance", eur("50.00"))
    return PaymentFlow(place, ZvtTerminal(settings), PaymentStore(db), Clock(), lambda _c: cap)


def at_entrance(reference: str) -> PaymentKey:
    return PaymentKey("entrance", reference)


class Sessions:
    """Sessions as the session store leaves them: started with a token, stopped, priced."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.tokens: list[str] = []

    async def start(self, connector_id: str, token: str) -> int:
        self.tokens.append(token)

        def job(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO sessions (connector_id, id_tag, start_at_s, meter_start_wh,"
                " last_meter_wh, last_meter_at_s) VALUES (?, ?, 0, 1000, 1000, 0)",
                (connector_id, token),
            )
            return int(cursor.lastrowid or 0)

        return await self.db.write(job)

    async def never(self, connector_id: str, token: str) -> None:
        self.tokens.append(token)

    async def stop_and_price(self, local_id: int, total_incl_tax_minor: int) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE sessions SET stop_at_s = 3600, meter_stop_wh = 31000 WHERE local_id = ?",
                (local_id,),
            )
            conn.execute(
                "INSERT INTO session_costs VALUES (?, 'EUR', ?, ?, '{}', 3600)",
                (local_id, total_incl_tax_minor * 100 // 119, total_incl_tax_minor),
            )

        await self.db.write(job)


async def test_session_priced_cost_is_captured_once(
    sim: SimulatedZvtTerminal, db: Database
) -> None:
    sessions = Sessions(db)
    payments = flow(sim, db, eur("30.00"))
    auth = await payments.pay_and_start("wb1:1", sessions.start)
    assert auth.amount == eur("30.00")  # min(50.00 configured, 30.00 max cost)
    assert sim.ledger.reservations[1].amount_minor == 3000
    assert sessions.tokens == [session_token("entrance", auth.reference)]
    assert await payments.settle_due() == 0  # still charging: nothing to capture
    await sessions.stop_and_price(1, 1234)
    assert await payments.settle_due() == 1
    assert await payments.settle_due() == 0
    assert sim.ledger.captures == [(1, 1234)]
    stored = await PaymentStore(db).get(at_entrance(auth.reference))
    assert stored is not None and stored.state == PaymentState.SETTLED
    assert stored.settled == eur("12.34")
    assert not await PaymentStore(db).capturing(
        at_entrance(auth.reference), 9.0
    )  # settled stays settled


async def test_cost_above_the_reservation_captures_the_reservation(
    sim: SimulatedZvtTerminal, db: Database
) -> None:
    sessions = Sessions(db)
    payments = flow(sim, db)
    await payments.pay_and_start("wb1:1", sessions.start)
    await sessions.stop_and_price(1, 5003)
    await payments.settle_due()
    assert sim.ledger.captures == [(1, 5000)]


async def test_restart_between_stop_and_capture_settles_once(
    sim: SimulatedZvtTerminal, tmp_path: Path
) -> None:
    path = tmp_path / "edge.db"
    first = await Database.open(path)
    sessions = Sessions(first)
    await flow(sim, first, eur("30.00")).pay_and_start("wb1:1", sessions.start)
    await sessions.stop_and_price(1, 789)
    await first.close()  # the daemon stops here, before the capture
    again = await Database.open(path)
    try:
        restarted = flow(sim, again)
        assert await restarted.settle_due() == 1
        assert await flow(sim, again).settle_due() == 0
    finally:
        await again.close()
    assert sim.ledger.captures == [(1, 789)]


async def test_lost_answer_to_a_capture_is_settled_from_the_terminals_last_receipt(
    sim: SimulatedZvtTerminal, db: Database
) -> None:
    """The book total reached the terminal and was booked, but the daemon died before storing
    its answer: the terminal's repeated last receipt (06 20) shows the booking, so the payment
    is settled for it without a second book total."""
    sessions = Sessions(db)
    payments = flow(sim, db, eur("30.00"))
    auth = await payments.pay_and_start("wb1:1", sessions.start)
    await sessions.stop_and_price(1, 1000)
    store = PaymentStore(db)
    await store.capturing(at_entrance(auth.reference), 1.0)  # sent ...
    await ZvtTerminal(ZvtSettings("127.0.0.1", sim.port, password=PASSWORD)).capture(
        auth, eur("10.00")
    )  # ... and booked, then the daemon died before storing the answer
    assert await payments.settle_due() == 1
    assert await payments.settle_due() == 0
    assert sim.ledger.captures == [(1, 1000)] and sim.ledger.repeats == 1
    assert sim.ledger.commands.count("0624") == 1
    stored = await store.get(at_entrance(auth.reference))
    assert stored is not None and stored.state == PaymentState.SETTLED
    assert stored.settled == eur("10.00")


async def test_booked_capture_hidden_by_a_later_transaction_goes_to_the_operator(
    sim: SimulatedZvtTerminal, db: Database
) -> None:
    """The booking's answer was lost and another card was pre-authorised at the terminal
    since: its last receipt no longer tells, the retried book total is refused, and the
    payment is held for the operator (never booked twice)."""
    sessions = Sessions(db)
    payments = flow(sim, db, eur("30.00"))
    auth = await payments.pay_and_start("wb1:1", sessions.start)
    await sessions.stop_and_price(1, 1000)
    store = PaymentStore(db)
    await store.capturing(at_entrance(auth.reference), 1.0)
    terminal = ZvtTerminal(ZvtSettings("127.0.0.1", sim.port, password=PASSWORD))
    await terminal.capture(auth, eur("10.00"))
    await payments.pay_and_start("wb1:2", sessions.start)  # the next driver pays meanwhile
    assert await payments.settle_due() == 0
    assert sim.ledger.captures == [(1, 1000)]
    stored = await store.get(at_entrance(auth.reference))
    assert stored is not None and stored.state == PaymentState.FAILED
    assert stored.reason is not None and "retried capture refused" in stored.reason


def settled_flow(sim: SimulatedZvtTerminal, db: Database) -> PaymentFlow:
    """A flow whose store puts each settlement in the outbox."""
    outbox = SettlementOutbox("site1", lambda _c: "site1")
    settings = ZvtSettings("127.0.0.1", sim.port, password=PASSWORD)
    return PaymentFlow(
        TerminalPlace("entrance", eur("30.00")), ZvtTerminal(settings),
        PaymentStore(db, outbox), Clock(),
    )  # fmt: skip


async def settlements(db: Database) -> list[SettlementRecorded]:
    rows = await db.read(lambda c: c.execute("SELECT event, body FROM outbox").fetchall())
    found = [decode(event, body) for event, body in rows]
    return [event for event in found if isinstance(event, SettlementRecorded)]


@pytest.mark.parametrize(
    ("cut", "book_totals_sent"),
    [(Behaviour.DISCONNECT_AFTER_BOOKING, 1), (Behaviour.DISCONNECT, 2)],
    ids=["after_the_terminal_booked", "before_the_terminal_booked"],
)
async def test_connection_cut_during_the_capture_books_once_and_settles_once(
    sim: SimulatedZvtTerminal, db: Database, cut: Behaviour, book_totals_sent: int
) -> None:
    """The connection drops mid book total, after the terminal booked it or before: the next
    round asks the terminal for its last receipt, and settles from the booking it shows, or
    sends the book total again. Either way: one booking in the terminal's journal and one
    settlement of the priced amount."""
    sessions = Sessions(db)
    payments = settled_flow(sim, db)
    auth = await payments.pay_and_start("wb1:1", sessions.start)
    await sessions.stop_and_price(1, 1717)
    sim.behaviour = cut
    assert await payments.settle_due() == 0  # the answer is lost
    assert await settlements(db) == []
    sim.behaviour = Behaviour.APPROVE
    assert await payments.settle_due() == 1
    assert await payments.settle_due() == 0
    assert sim.ledger.captures == [(1, 1717)] and sim.ledger.repeats == 1
    assert sim.ledger.commands.count("0624") == book_totals_sent
    events = await settlements(db)
    assert len(events) == 1
    assert events[0].status is SettlementStatus.SETTLED and events[0].amount == eur("17.17")
    stored = await PaymentStore(db).get(at_entrance(auth.reference))
    assert stored is not None and stored.state == PaymentState.SETTLED
    assert stored.settled == eur("17.17") and stored.attempts == book_totals_sent


async def test_terminal_offline_at_stop_is_retried(sim: SimulatedZvtTerminal, db: Database) -> None:
    sessions = Sessions(db)
    payments = flow(sim, db, eur("30.00"))
    await payments.pay_and_start("wb1:1", sessions.start)
    await sessions.stop_and_price(1, 555)
    sim.behaviour = Behaviour.DISCONNECT
    assert await payments.settle_due() == 0
    sim.behaviour = Behaviour.APPROVE
    assert await payments.settle_due() == 1
    assert sim.ledger.captures == [(1, 555)]


async def test_session_that_never_starts_is_reversed(
    sim: SimulatedZvtTerminal, db: Database
) -> None:
    sessions = Sessions(db)
    auth = await flow(sim, db, eur("30.00")).pay_and_start("wb1:1", sessions.never)
    assert sim.ledger.reversals == [1]
    assert sim.ledger.captures == []
    stored = await PaymentStore(db).get(at_entrance(auth.reference))
    assert stored is not None and stored.state == PaymentState.REVERSED


async def test_reservation_left_by_a_crash_before_start_is_reversed_at_start_up(
    sim: SimulatedZvtTerminal, db: Database
) -> None:
    sim.behaviour = Behaviour.APPROVE
    terminal = ZvtTerminal(ZvtSettings("127.0.0.1", sim.port, password=PASSWORD))
    auth = await terminal.pre_authorise(eur("30.00"))
    await PaymentStore(db).authorised(auth, "entrance", "wb1:1", 1.0)  # then the crash
    await flow(sim, db).reverse_unstarted()
    assert sim.ledger.reversals == [1]
    await flow(sim, db).reverse_unstarted()
    assert sim.ledger.reversals == [1]


async def test_declined_card_starts_nothing_and_stores_nothing(
    sim: SimulatedZvtTerminal, db: Database
) -> None:
    sessions = Sessions(db)
    sim.behaviour = Behaviour.DECLINE
    with pytest.raises(PaymentDeclined):
        await flow(sim, db, eur("30.00")).pay_and_start("wb1:1", sessions.start)
    assert sessions.tokens == []
    assert await PaymentStore(db).unstarted() == []


async def test_each_terminal_settles_and_reverses_only_its_own_payments(db: Database) -> None:
    """Two terminals share the payments store: a card paid at one is never booked at the other."""
    other = SimulatedZvtTerminal(password=PASSWORD)
    entrance = SimulatedZvtTerminal(password=PASSWORD)
    await other.start()
    await entrance.start()
    try:
        sessions = Sessions(db)
        entrance_flow = flow(entrance, db, eur("30.00"))
        settings = ZvtSettings("127.0.0.1", other.port, password=PASSWORD)
        at_other = PaymentFlow(
            TerminalPlace("garage", eur("50.00")), ZvtTerminal(settings), PaymentStore(db), Clock()
        )
        await entrance_flow.pay_and_start("wb1:1", sessions.start)
        await sessions.stop_and_price(1, 1234)
        unstarted = await ZvtTerminal(ZvtSettings("127.0.0.1", entrance.port, password=PASSWORD))\
            .pre_authorise(eur("20.00"))  # fmt: skip
        await PaymentStore(db).authorised(unstarted, "entrance", "wb2:1", 1.0)
        assert await at_other.settle_due() == 0
        await at_other.reverse_unstarted()
        assert other.ledger.captures == [] and other.ledger.reversals == []
        assert await entrance_flow.settle_due() == 1
        await entrance_flow.reverse_unstarted()
        assert entrance.ledger.captures == [(1, 1234)]
        assert entrance.ledger.reversals == [2]
    finally:
        await entrance.stop()
        await other.stop()


async def test_two_terminals_printing_the_same_reference_keep_both_payments(
    db: Database,
) -> None:
    """Two terminals count receipts and traces on their own, so their first approvals carry the
    same reference: both payments are kept, each session has its own token, and each is
    captured at its own terminal."""
    garage_sim = SimulatedZvtTerminal(password=PASSWORD)
    entrance_sim = SimulatedZvtTerminal(password=PASSWORD)
    await garage_sim.start()
    await entrance_sim.start()
    try:
        sessions = Sessions(db)
        entrance = flow(entrance_sim, db)
        settings = ZvtSettings("127.0.0.1", garage_sim.port, password=PASSWORD)
        garage = PaymentFlow(
            TerminalPlace("garage", eur("20.00")), ZvtTerminal(settings), PaymentStore(db), Clock()
        )
        first = await entrance.pay_and_start("wb1:1", sessions.start)
        second = await garage.pay_and_start("wb2:1", sessions.start)
        assert first.reference == second.reference  # the collision this guards against
        assert len(set(sessions.tokens)) == 2
        assert all(len(token) <= 20 for token in sessions.tokens)  # an OCPP 1.6 idTag
        await sessions.stop_and_price(1, 1234)
        await sessions.stop_and_price(2, 567)
        assert await garage.settle_due() == 1
        assert await entrance.settle_due() == 1
        assert entrance_sim.ledger.captures == [(1, 1234)]
        assert garage_sim.ledger.captures == [(1, 567)]
        kept = await PaymentStore(db).get(PaymentKey("garage", second.reference))
        assert kept is not None and kept.settled == eur("5.67") and kept.connector_id == "wb2:1"
    finally:
        await entrance_sim.stop()
        await garage_sim.stop()


async def test_session_started_before_a_crash_is_linked_not_reversed(
    sim: SimulatedZvtTerminal, db: Database
) -> None:
    """The daemon died after the session opened with the payment's token but before the
    payment was marked started: at start-up it is linked to that session and captured later,
    never reversed (the EV charged against it)."""
    terminal = ZvtTerminal(ZvtSettings("127.0.0.1", sim.port, password=PASSWORD))
    auth = await terminal.pre_authorise(eur("30.00"))
    token = await PaymentStore(db).authorised(auth, "entrance", "wb1:1", 1.0)
    local_id = await Sessions(db).start("wb1:1", token)  # then the crash
    payments = flow(sim, db)
    await payments.reverse_unstarted()
    assert sim.ledger.reversals == []
    stored = await PaymentStore(db).get(at_entrance(auth.reference))
    assert stored is not None and stored.state is PaymentState.STARTED
    assert stored.session_local_id == local_id
    await Sessions(db).stop_and_price(local_id, 2222)
    assert await payments.settle_due() == 1
    assert sim.ledger.captures == [(1, 2222)]


async def test_payment_waiting_for_its_ev_is_not_reversed_by_the_periodic_sweep(
    sim: SimulatedZvtTerminal, db: Database
) -> None:
    """The driver paid first and walks to the EV: the flow's periodic sweep of reservations
    without a session leaves this one alone while its start waits for the plug."""
    payments = flow(sim, db)
    plugged = asyncio.Event()
    sessions = Sessions(db)

    async def start_after_plug(connector_id: str, token: str) -> int:
        await plugged.wait()
        return await sessions.start(connector_id, token)

    paying = asyncio.create_task(payments.pay_and_start("wb1:1", start_after_plug))
    await wait_until(lambda: bool(sim.ledger.reservations))
    await asyncio.sleep(0.05)  # the approval is stored
    await payments.reverse_unstarted()
    assert sim.ledger.reversals == []
    plugged.set()
    auth = await paying
    stored = await PaymentStore(db).get(at_entrance(auth.reference))
    assert stored is not None and stored.state is PaymentState.STARTED


async def test_receipt_lines_of_pre_authorisation_and_capture_are_kept(
    sim: SimulatedZvtTerminal, db: Database
) -> None:
    sessions = Sessions(db)
    payments = flow(sim, db, eur("30.00"))
    auth = await payments.pay_and_start("wb1:1", sessions.start)
    await sessions.stop_and_price(1, 1234)
    assert await payments.settle_due() == 1
    stored = await PaymentStore(db).get(at_entrance(auth.reference))
    assert stored is not None
    assert stored.authorisation.receipt_lines == (
        "PRE-AUTHORISATION 30.00 EUR",
        "BOOK TOTAL 12.34 EUR",
    )
    # the intermediate status the terminal showed, during the pre-authorisation and the capture
    assert stored.authorisation.status_texts == ("insert card", "insert card")


async def test_one_settlement_per_paid_session_goes_to_the_outbox(
    sim: SimulatedZvtTerminal, db: Database
) -> None:
    """The capture and its settlement are committed together: one settlement_recorded event
    with the captured amount, the session's token and receipt, none on a second settle."""
    woken = []
    outbox = SettlementOutbox("site1", lambda _c: "site1", lambda: woken.append(1))
    sessions = Sessions(db)
    settings = ZvtSettings("127.0.0.1", sim.port, password=PASSWORD)
    payments = PaymentFlow(
        TerminalPlace("entrance", eur("30.00")), ZvtTerminal(settings),
        PaymentStore(db, outbox), Clock(),
    )  # fmt: skip
    await payments.pay_and_start("wb1:1", sessions.start)
    await sessions.stop_and_price(1, 1234)
    assert await payments.settle_due() == 1
    assert await payments.settle_due() == 0
    rows = await db.read(lambda c: c.execute("SELECT event, body FROM outbox").fetchall())
    assert [r[0] for r in rows] == ["settlement_recorded"]
    event = decode(rows[0][0], rows[0][1])
    assert isinstance(event, SettlementRecorded)
    assert event.amount == eur("12.34") and event.status is SettlementStatus.SETTLED
    assert event.psp_reference == sessions.tokens[0] and event.session_local_id == 1
    assert event.receipt_id == "site1-00000001"
    assert woken == [1]


async def test_refused_capture_is_settled_as_failed_once(
    sim: SimulatedZvtTerminal, db: Database
) -> None:
    outbox = SettlementOutbox("site1", lambda _c: "site1")
    sessions = Sessions(db)
    settings = ZvtSettings("127.0.0.1", sim.port, password=PASSWORD)
    payments = PaymentFlow(
        TerminalPlace("entrance", eur("30.00")), ZvtTerminal(settings),
        PaymentStore(db, outbox), Clock(),
    )  # fmt: skip
    await payments.pay_and_start("wb1:1", sessions.start)
    await sessions.stop_and_price(1, 4000)  # above the reservation: 30.00 is attempted
    sim.behaviour = Behaviour.CAPTURE_FAILS
    assert await payments.settle_due() == 0
    assert await payments.settle_due() == 0
    rows = await db.read(lambda c: c.execute("SELECT event, body FROM outbox").fetchall())
    assert len(rows) == 1
    event = decode(rows[0][0], rows[0][1])
    assert isinstance(event, SettlementRecorded)
    assert event.status is SettlementStatus.FAILED and event.amount == eur("30.00")
    assert "capture refused" in event.status_info


async def test_the_flow_closes_the_terminals_day(sim: SimulatedZvtTerminal, db: Database) -> None:
    sessions = Sessions(db)
    payments = flow(sim, db, eur("30.00"))
    await payments.pay_and_start("wb1:1", sessions.start)
    await sessions.stop_and_price(1, 999)
    assert await payments.settle_due() == 1
    closed = await payments.close_day()
    assert closed is not None and closed.total == eur("9.99")
    assert sim.ledger.days_closed == [999]
    sim.behaviour = Behaviour.DISCONNECT  # an unreachable terminal: nothing closed, no raise
    await sim.stop()
    assert await payments.close_day() is None


async def test_a_paid_session_that_cost_nothing_is_reversed_not_booked(
    sim: SimulatedZvtTerminal, db: Database
) -> None:
    """The EV took no energy and nothing else was priced: the reservation is released (06 25),
    never booked for 0.00, and the session's one settlement is Canceled with nothing charged."""
    sessions = Sessions(db)
    payments = settled_flow(sim, db)
    auth = await payments.pay_and_start("wb1:1", sessions.start)
    await sessions.stop_and_price(1, 0)
    assert await payments.settle_due() == 1
    assert await payments.settle_due() == 0
    assert sim.ledger.reversals == [1] and sim.ledger.captures == []
    assert "0624" not in sim.ledger.commands
    stored = await PaymentStore(db).get(at_entrance(auth.reference))
    assert stored is not None and stored.state == PaymentState.REVERSED
    (event,) = await settlements(db)
    assert event.status is SettlementStatus.CANCELED and event.amount == eur("0.00")
    assert "nothing" in event.status_info and event.psp_reference == sessions.tokens[0]


class HeldIntent(PaymentStore):
    """The store, holding a pre-authorisation's intent just after it is written."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.written, self.hold = asyncio.Event(), asyncio.Event()

    async def authorising(
        self, terminal_id: str, connector_id: str, amount: Money, at_s: float
    ) -> int:
        intent = await super().authorising(terminal_id, connector_id, amount, at_s)
        self.written.set()
        await self.hold.wait()
        return intent


async def test_the_start_up_report_leaves_a_payment_being_asked_for_alone(
    sim: SimulatedZvtTerminal, db: Database
) -> None:
    """At start-up the report of what a crash cut runs beside the first payment (a terminal
    arming itself for an EV already waiting): the intent that payment just wrote is its own,
    never reported as an unknown outcome."""
    store = HeldIntent(db)
    settings = ZvtSettings("127.0.0.1", sim.port, password=PASSWORD)
    payments = PaymentFlow(
        TerminalPlace("entrance", eur("50.00")), ZvtTerminal(settings), store, Clock()
    )

    async def no_ev(_connector_id: str, _token: str) -> int | None:
        return None

    paying = asyncio.create_task(payments.pay_and_start("cp1:1", no_ev))
    await asyncio.wait_for(store.written.wait(), 5.0)
    reporting = asyncio.create_task(payments.report_unknown())
    await asyncio.sleep(0.1)
    store.hold.set()
    assert await reporting == 0
    await paying
    assert sim.ledger.reversals == [1]  # the EV never plugged in: released
    states = await db.read(lambda c: c.execute("SELECT * FROM payment_intents").fetchall())
    assert states == []


async def test_a_payment_refused_before_the_terminal_does_not_keep_the_last_ones_error(
    sim: SimulatedZvtTerminal, db: Database
) -> None:
    # The self-arming terminal reads the flow's last error to tell busy and offline apart: a
    # payment with no tariff must not hand it the error of the payment before.
    sessions = Sessions(db)
    sim.behaviour = Behaviour.DECLINE
    declining = flow(sim, db, eur("30.00"))
    with pytest.raises(PaymentDeclined):
        await declining.pay_and_start("wb1:1", sessions.start)
    assert isinstance(declining.last_error, PaymentDeclined)

    def no_tariff(_connector_id: str) -> Money | None:
        raise NoTariff("no tariff for wb1:1")

    declining._max_cost = no_tariff
    with pytest.raises(NoTariff):
        await declining.pay_and_start("wb1:1", sessions.start)
    assert declining.last_error is None
