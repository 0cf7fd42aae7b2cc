"""The self-test's card item against pcscd and a vpcd virtual card, at the moment an installer
lifts the card after the reader saw it but before it was read.

That moment is a few milliseconds wide between pcscd reporting the card and the self-test
connecting to it, too narrow to hit from outside. So the card is lifted at the self-test's call
into the card read (the real read then fails on pcscd with "No smart card inserted"), and tapped
again at its next wait for a card; both are the real peers, only the moment is chosen here."""

from __future__ import annotations

from typing import Any

import pytest

from edge_controller.app import selftest
from edge_controller.config.settings import ReaderSettings
from edge_controller.drivers.pcsc import card_read, pcsc_io
from edge_controller.drivers.pcsc.config import ReaderConfig
from tests.integration.pcsc.pcscd import Pcscd, wait_cards_lifted
from tests.integration.pcsc.vcard import VirtualCard

pytestmark = pytest.mark.integration
SLOT0 = "Virtual PCD 00 00"
READER = ReaderSettings(name_pattern="Virtual PCD 00 00", connectors=["1"])
TIMEOUT_S = 30.0


class LiftThenTapAgain:
    """Lifts the card at the first read and taps it again at the next blocking wait for a
    card, recording what the card read saw."""

    def __init__(self, card: VirtualCard, monkeypatch: pytest.MonkeyPatch) -> None:
        self.card = card
        self.read_errors: list[str] = []
        self.reads = 0
        self.tapped_again = False
        self._read, self._wait = card_read.read_card, pcsc_io.wait_change
        monkeypatch.setattr(card_read, "read_card", self.read_card)
        monkeypatch.setattr(pcsc_io, "wait_change", self.wait_change)

    def read_card(self, context: Any, reader: str, atr: bytes, config: ReaderConfig) -> Any:
        self.reads += 1
        if self.reads == 1:
            self.card.remove()
            wait_cards_lifted()
        try:
            return self._read(context, reader, atr, config)
        except card_read.CardReadError as exc:
            self.read_errors.append(str(exc))
            raise

    def wait_change(self, context: Any, states: list[pcsc_io.ReaderState], timeout_ms: int) -> bool:
        # timeout 0 is a look at the reader, not a wait for the installer
        if self.read_errors and not self.tapped_again and timeout_ms > 0:
            self.tapped_again = True
            self.card.insert()
        return self._wait(context, states, timeout_ms)


async def test_a_card_lifted_before_it_was_read_is_waited_for_again(
    running_pcscd: Pcscd, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = VirtualCard(running_pcscd.slot_ports[0], bytes.fromhex("04A1B2C3D4E5F6"))
    installer = LiftThenTapAgain(card, monkeypatch)
    card.insert()
    try:
        item = await selftest._tap_item("entrance", READER, SLOT0, TIMEOUT_S)
    finally:
        card.remove()
    assert (item.status, item.seen) == ("pass", "card 04..F6 read")
    assert len(installer.read_errors) == 1 and "No smart card inserted" in installer.read_errors[0]
    assert installer.tapped_again and installer.reads == 2


async def test_a_held_card_that_cannot_be_read_still_fails(
    running_pcscd: Pcscd, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []

    def unreadable(context: Any, reader: str, atr: bytes, config: ReaderConfig) -> Any:
        reads.append(1)
        raise card_read.CardReadError("card_io", "SCardTransmit: Transaction failed.")

    monkeypatch.setattr(card_read, "read_card", unreadable)
    with VirtualCard(running_pcscd.slot_ports[0], bytes.fromhex("04A1B2C3D4E5F6")):
        item = await selftest._tap_item("entrance", READER, SLOT0, TIMEOUT_S)
    assert item.status == "fail" and "Transaction failed" in item.seen
    assert len(reads) == selftest.READ_ATTEMPTS
