"""The ZVT driver against the simulated terminal over real TCP: approval, decline, a silent
terminal, a dropped connection, and money booked exactly once, in minor units."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from edge_controller.domain.payments import PaymentAuthorisation, TerminalState
from edge_controller.domain.pricing.money import Currency, Money
from edge_controller.drivers.payment.zvt import ZvtSettings, ZvtTerminal
from edge_controller.ports import (
    CaptureLookup,
    DeviceBusy,
    DeviceFault,
    DeviceUnavailable,
    EndOfDay,
    PaymentAborted,
    PaymentDeclined,
    PaymentTerminal,
)
from edge_controller.sim.zvt_terminal import MASKED_PAN, Behaviour, SimulatedZvtTerminal

EUR = Currency.of("EUR")
PASSWORD = 123456


def eur(text: str) -> Money:
    return Money(Decimal(text), EUR)


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedZvtTerminal]:
    terminal = SimulatedZvtTerminal(password=PASSWORD)
    await terminal.start()
    yield terminal
    await terminal.stop()


def driver(sim: SimulatedZvtTerminal, **timing: float) -> ZvtTerminal:
    port = sim.port
    return ZvtTerminal(ZvtSettings("127.0.0.1", port, password=PASSWORD, **timing))


async def test_driver_is_a_payment_terminal(sim: SimulatedZvtTerminal) -> None:
    terminal = driver(sim)
    assert isinstance(terminal, PaymentTerminal)
    status = await terminal.status()
    assert status.state == TerminalState.READY
    assert status.terminal_id == "29001234"


async def test_pre_authorise_then_capture_books_the_final_cost_once(
    sim: SimulatedZvtTerminal,
) -> None:
    terminal = driver(sim)
    with capture_logs() as logs:
        auth = await terminal.pre_authorise(eur("30.00"))
        capture = await terminal.capture(auth, eur("12.34"))
    assert auth.amount == eur("30.00")
    assert auth.card_name == "Girocard"
    assert capture.amount.minor == 1234
    assert sim.ledger.captures == [(1, 1234)]
    assert sim.ledger.reservations[1].amount_minor == 3000
    assert any("BOOK TOTAL 12.34" in line for line in capture.receipt_lines)
    # registration before each command; no card number anywhere in what was logged
    assert sim.ledger.commands == ["0600", "0622", "0600", "0624"]
    text = repr(logs)
    assert MASKED_PAN.hex() not in text and "6734" not in text
    assert "2912" not in repr(auth)  # the expiry date is not kept either


async def test_a_second_capture_of_the_same_reservation_is_refused(
    sim: SimulatedZvtTerminal,
) -> None:
    terminal = driver(sim)
    auth = await terminal.pre_authorise(eur("30.00"))
    await terminal.capture(auth, eur("5.00"))
    with pytest.raises(PaymentDeclined):
        await terminal.capture(auth, eur("5.00"))
    assert sim.ledger.captures == [(1, 500)]


async def test_capture_above_the_reservation_is_refused_before_sending(
    sim: SimulatedZvtTerminal,
) -> None:
    terminal = driver(sim)
    auth = await terminal.pre_authorise(eur("10.00"))
    with pytest.raises(ValueError, match="above the authorised"):
        await terminal.capture(auth, eur("10.01"))
    assert sim.ledger.captures == []


async def test_reversal_releases_the_reservation(sim: SimulatedZvtTerminal) -> None:
    terminal = driver(sim)
    auth = await terminal.pre_authorise(eur("30.00"))
    await terminal.reverse(auth)
    assert sim.ledger.reversals == [1]
    assert sim.ledger.reservations[1].reversed
    with pytest.raises(PaymentDeclined):  # nothing left to book
        await terminal.capture(auth, eur("1.00"))


async def test_declined_card_reserves_nothing(sim: SimulatedZvtTerminal) -> None:
    sim.behaviour = Behaviour.DECLINE
    with pytest.raises(PaymentDeclined) as declined:
        await driver(sim).pre_authorise(eur("30.00"))
    assert declined.value.result_code == 0x05
    assert sim.ledger.reservations == {}


async def test_silent_terminal_times_out_and_is_aborted(sim: SimulatedZvtTerminal) -> None:
    sim.behaviour = Behaviour.SILENT
    with pytest.raises(DeviceUnavailable, match="aborted"):
        await driver(sim, message_timeout_s=0.3).pre_authorise(eur("30.00"))
    for _ in range(50):  # the abort reaches the simulator shortly after the driver gives up
        if sim.ledger.aborts_by_ecr:
            break
        await asyncio.sleep(0.02)
    assert sim.ledger.aborts_by_ecr == 1
    assert sim.ledger.reservations == {}


async def test_connection_dropped_mid_transaction_is_unavailable(
    sim: SimulatedZvtTerminal,
) -> None:
    sim.behaviour = Behaviour.DISCONNECT
    with pytest.raises(DeviceUnavailable, match="connection lost"):
        await driver(sim).pre_authorise(eur("30.00"))
    sim.behaviour = Behaviour.APPROVE
    auth = await driver(sim).pre_authorise(eur("30.00"))  # the next transaction works
    assert auth.amount.minor == 3000


async def test_capture_failure_is_a_decline_and_books_nothing(sim: SimulatedZvtTerminal) -> None:
    terminal = driver(sim)
    auth = await terminal.pre_authorise(eur("30.00"))
    sim.behaviour = Behaviour.CAPTURE_FAILS
    with pytest.raises(PaymentDeclined):
        await terminal.capture(auth, eur("12.34"))
    sim.behaviour = Behaviour.APPROVE
    assert (await terminal.capture(auth, eur("12.34"))).amount.minor == 1234
    assert sim.ledger.captures == [(1, 1234)]


async def test_unreachable_terminal_is_unavailable() -> None:
    terminal = ZvtTerminal(ZvtSettings("127.0.0.1", 1, password=PASSWORD))
    with pytest.raises(DeviceUnavailable, match="not reachable"):
        await terminal.status()


async def test_wrong_password_is_named(sim: SimulatedZvtTerminal) -> None:
    port = sim.port
    terminal = ZvtTerminal(ZvtSettings("127.0.0.1", port, password=111111))
    with pytest.raises(DeviceFault, match=r"refused 06 00.*9E"):
        await terminal.status()


async def test_end_of_day_submits_what_was_booked_since_the_last_one(
    sim: SimulatedZvtTerminal,
) -> None:
    terminal = driver(sim)
    assert isinstance(terminal, EndOfDay)
    for cost in ("12.34", "0.66"):
        held = await terminal.pre_authorise(eur("30.00"))
        await terminal.capture(held, eur(cost))
    await terminal.reverse(await terminal.pre_authorise(eur("30.00")))  # not booked
    closed = await terminal.end_of_day()
    assert closed.total == eur("13.00")
    assert closed.receipt_lines == ("END OF DAY 13.00 EUR",)
    assert (await terminal.end_of_day()).total == eur("0.00")  # nothing since
    assert sim.ledger.commands[-2:] == ["0600", "0650"]  # registration, then end-of-day


async def test_repeat_receipt_tells_whether_a_capture_was_booked(
    sim: SimulatedZvtTerminal,
) -> None:
    """06 20 repeats the last transaction's status information: a booking of the reservation
    (its receipt number, its trace as the original trace, a trace of its own) is found with
    its amount; the reservation's own approval, another card's, or a fresh terminal is not."""
    terminal = driver(sim)
    assert isinstance(terminal, CaptureLookup)
    assert await terminal.booked_capture(unknown_reservation()) is None  # nothing to repeat yet
    auth = await terminal.pre_authorise(eur("30.00"))
    assert await terminal.booked_capture(auth) is None  # the last one is the reservation
    sim.behaviour = Behaviour.DISCONNECT_AFTER_BOOKING
    with pytest.raises(DeviceUnavailable, match="connection lost"):
        await terminal.capture(auth, eur("12.34"))
    sim.behaviour = Behaviour.APPROVE
    found = await terminal.booked_capture(auth)
    assert found is not None and found.amount == eur("12.34")
    assert found.reference == auth.reference and found.receipt_lines == ("BOOK TOTAL 12.34 EUR",)
    assert sim.ledger.captures == [(1, 1234)] and sim.ledger.repeats == 2
    assert await terminal.booked_capture(await terminal.pre_authorise(eur("30.00"))) is None
    assert await terminal.booked_capture(auth) is None  # hidden by the later transaction
    assert sim.ledger.commands.count("0624") == 1


def unknown_reservation() -> PaymentAuthorisation:
    """A reservation the terminal never made."""
    return PaymentAuthorisation("0001/001001/a0000000041010ff", eur("30.00"))


async def test_a_pin_asked_for_is_kept_with_the_approval(sim: SimulatedZvtTerminal) -> None:
    sim.behaviour = Behaviour.PIN_REQUIRED
    auth = await driver(sim).pre_authorise(eur("30.00"))
    assert auth.amount == eur("30.00")
    assert auth.status_texts == ("insert card", "watch PIN pad")


async def test_a_card_limit_below_the_amount_declines_it(sim: SimulatedZvtTerminal) -> None:
    """The card allows 20.00: a reservation of 30.00 is declined and reserves nothing, one of
    20.00 is approved."""
    sim.behaviour, sim.card_limit_minor = Behaviour.AMOUNT_LIMIT, 2000
    terminal = driver(sim)
    with pytest.raises(PaymentDeclined) as declined:
        await terminal.pre_authorise(eur("30.00"))
    assert declined.value.result_code == 0x05 and sim.ledger.reservations == {}
    assert (await terminal.pre_authorise(eur("20.00"))).amount == eur("20.00")


async def test_a_busy_terminal_is_unavailable_not_a_refusal(sim: SimulatedZvtTerminal) -> None:
    """Another transaction runs at the terminal: its status says busy, and a capture sent now
    is to be tried again (unavailable), never taken for a refusal the operator must settle."""
    terminal = driver(sim)
    auth = await terminal.pre_authorise(eur("30.00"))
    sim.behaviour = Behaviour.BUSY
    assert (await terminal.status()).state == TerminalState.BUSY
    with pytest.raises(DeviceBusy, match="busy"):  # a DeviceUnavailable: retried
        await terminal.capture(auth, eur("12.34"))
    with pytest.raises(DeviceBusy):  # told apart from out of reach: asked again soon
        await terminal.pre_authorise(eur("30.00"))
    sim.behaviour = Behaviour.APPROVE
    assert (await terminal.capture(auth, eur("12.34"))).amount == eur("12.34")
    assert sim.ledger.captures == [(1, 1234)]


async def armed(sim: SimulatedZvtTerminal) -> None:
    """Until the terminal waits for the card holder's card."""
    for _ in range(250):
        if sim.waiting_for_card:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the terminal never waited for a card")


async def test_an_abort_while_the_terminal_waits_for_a_card_reserves_nothing(
    sim: SimulatedZvtTerminal,
) -> None:
    """06 B0 on the pre-authorisation's connection: the terminal acknowledges it and ends the
    command with 06 1E 6C; the pending call raises PaymentAborted; no card is taken after."""
    sim.wait_for_card = True
    terminal = driver(sim)
    assert not await terminal.abort()  # nothing pending: nothing sent
    pending = asyncio.ensure_future(terminal.pre_authorise(eur("30.00")))
    await armed(sim)
    assert await terminal.abort()
    with pytest.raises(PaymentAborted) as aborted:
        await pending
    assert aborted.value.result_code == 0x6C
    assert sim.ledger.reservations == {} and sim.ledger.aborts_by_ecr == 1
    assert sim.ledger.commands == ["0600", "0622", "06B0"]
    assert not sim.present_card()  # the terminal is not armed any more


async def test_an_abort_after_the_card_was_read_is_refused_and_the_payment_goes_on(
    sim: SimulatedZvtTerminal,
) -> None:
    sim.wait_for_card, sim.authorising_s = True, 1.0
    terminal = driver(sim)
    pending = asyncio.ensure_future(terminal.pre_authorise(eur("30.00")))
    await armed(sim)
    assert sim.present_card()
    for _ in range(100):  # the card is being authorised
        if not sim.waiting_for_card:
            break
        await asyncio.sleep(0.01)
    assert not await terminal.abort()
    auth = await pending
    assert auth.amount == eur("30.00") and auth.status_texts == ("insert card", "please wait")
    assert sim.ledger.aborts_refused == 1 and sim.ledger.reservations[1].amount_minor == 3000
    assert not await terminal.abort()  # over: nothing pending


async def test_a_card_presented_to_an_armed_terminal_is_approved(
    sim: SimulatedZvtTerminal,
) -> None:
    sim.wait_for_card = True
    terminal = driver(sim)
    assert not sim.present_card()  # not armed yet: the card does nothing
    pending = asyncio.ensure_future(terminal.pre_authorise(eur("25.00")))
    await armed(sim)
    assert sim.present_card()
    assert (await pending).amount == eur("25.00")
    assert sim.ledger.aborts_by_ecr == 0


async def test_an_armed_terminal_without_a_card_in_time_is_taken_back_not_offline(
    sim: SimulatedZvtTerminal,
) -> None:
    """Nobody presents a card within the message timeout: the driver takes the command back
    (06 B0); the terminal, alive, agrees, so nothing is reserved and it is no fault."""
    sim.wait_for_card = True
    with pytest.raises(PaymentAborted):
        await driver(sim, message_timeout_s=0.3).pre_authorise(eur("30.00"))
    assert sim.ledger.aborts_by_ecr == 1 and sim.ledger.reservations == {}
    assert not sim.waiting_for_card
