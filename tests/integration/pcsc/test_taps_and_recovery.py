"""One token per tap, two readers at once, reader loss and return, pcscd restart, feedback."""

from __future__ import annotations

import asyncio

import pytest

from edge_controller.drivers.pcsc.config import ReaderConfig
from edge_controller.drivers.pcsc.feedback import acr122_signal_apdu
from edge_controller.drivers.pcsc.reader import PcscTokenReader
from tests.integration.pcsc.helpers import collecting, wait_until
from tests.integration.pcsc.pcscd import Pcscd, wait_cards_lifted
from tests.integration.pcsc.vcard import VirtualCard

pytestmark = pytest.mark.integration
SLOT0 = "Virtual PCD 00 00"
SLOT1 = "Virtual PCD 00 01"
UID_A = bytes.fromhex("04A1B2C3D4E5F6")
UID_B = bytes.fromhex("04112233")
RESTING_S = 1.5  # several pcscd presence polls (400 ms apart) with the card on the reader


async def test_resting_card_is_one_tap_and_a_new_tap_is_another(running_pcscd: Pcscd) -> None:
    port = running_pcscd.slot_ports[0]
    async with collecting([ReaderConfig("r1", SLOT0)]) as taps:
        with VirtualCard(port, UID_A):
            first = await taps.next()
            await asyncio.sleep(RESTING_S)
        # Each card is off the reader until pcscd has seen it go (as a hand takes longer than
        # its 400 ms poll): on a loaded machine the next card could otherwise be on before the
        # poll, and pcscd would report no change at all.
        await asyncio.to_thread(wait_cards_lifted)
        with VirtualCard(port, UID_B):
            second = await taps.next()  # not A again: the resting card gave one token
        await asyncio.to_thread(wait_cards_lifted)
        with VirtualCard(port, UID_B):
            third = await taps.next()  # lifted and tapped again: a new token
    ids = [first.id_tag, second.id_tag, third.id_tag]
    assert ids == [UID_A.hex().upper(), "04112233", "04112233"]
    assert taps.reader.devices()[0].requests == 3


async def test_two_readers_at_once(running_pcscd: Pcscd) -> None:
    port0, port1 = running_pcscd.slot_ports
    configs = [ReaderConfig("left", SLOT0), ReaderConfig("right", SLOT1)]
    async with collecting(configs) as taps:
        with VirtualCard(port0, UID_A), VirtualCard(port1, UID_B):
            tokens = [await taps.next(), await taps.next()]
    seen = {(token.reader_id, token.id_tag) for token in tokens}
    assert seen == {("left", UID_A.hex().upper()), ("right", "04112233")}


async def test_reader_loss_and_return(running_pcscd: Pcscd) -> None:
    async with collecting([ReaderConfig("r1", SLOT0)]) as taps:
        running_pcscd.restart(readers=False)
        await wait_until(lambda: not taps.available()["r1"], "reader reported lost")
        running_pcscd.restart(readers=True)
        await wait_until(lambda: taps.available()["r1"], "reader reported back")
        with VirtualCard(running_pcscd.slot_ports[0], UID_A):
            token = await taps.next()
    assert token.id_tag == UID_A.hex().upper()


async def test_pcscd_restart_is_survived(running_pcscd: Pcscd) -> None:
    configs = [ReaderConfig("left", SLOT0), ReaderConfig("right", SLOT1)]
    async with collecting(configs) as taps:
        running_pcscd.stop()
        await wait_until(lambda: not any(taps.available().values()), "readers reported lost")
        running_pcscd.start()
        await wait_until(lambda: all(taps.available().values()), "readers reported back")
        with VirtualCard(running_pcscd.slot_ports[1], UID_B):
            token = await taps.next()
    assert (token.reader_id, token.id_tag) == ("right", "04112233")


async def test_feedback_reaches_the_reader(running_pcscd: Pcscd) -> None:
    # vpcd refuses escape commands, so the LED/buzzer APDU goes through the card on the reader.
    configs = [ReaderConfig("r1", SLOT0, feedback="acr122")]
    card = VirtualCard(running_pcscd.slot_ports[0], UID_A)
    async with collecting(configs) as taps:
        feedback = taps.reader.feedback("r1")
        assert feedback is not None
        with card:
            await taps.next()
            await feedback.signal(accepted=False)
    assert card.apdus[-1] == acr122_signal_apdu(False)


def test_feedback_is_absent_on_readers_without_it() -> None:
    reader = PcscTokenReader([ReaderConfig("r1", SLOT0), ReaderConfig("r2", "ACR122U PICC")])
    assert reader.feedback("r1") is None
    assert reader.feedback("r2") is not None
