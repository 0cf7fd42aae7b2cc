"""UIDs of every length and the status words real readers answer GET UID with."""

from __future__ import annotations

import asyncio

import pytest

from edge_controller.drivers.pcsc.config import ReaderConfig
from tests.integration.pcsc.helpers import collecting, wait_until
from tests.integration.pcsc.pcscd import Pcscd
from tests.integration.pcsc.vcard import DEFAULT_ATR, GET_UID, UidReply, VirtualCard

pytestmark = pytest.mark.integration
SLOT0 = "Virtual PCD 00 00"
RESTING_S = 1.5  # several pcscd presence polls with the card on the reader


@pytest.mark.parametrize(
    "uid_hex",
    ["04A1B2C3", "04A1B2C3D4E5F6", "04A1B2C3D4E5F6071829"],
    ids=["4-byte", "7-byte", "10-byte"],
)
async def test_uid_of_each_length_becomes_its_hex(running_pcscd: Pcscd, uid_hex: str) -> None:
    async with collecting([ReaderConfig("r1", SLOT0)]) as taps:
        with VirtualCard(running_pcscd.slot_ports[0], bytes.fromhex(uid_hex)):
            token = await taps.next()
    assert token.id_tag == uid_hex
    assert token.reader_id == "r1"
    assert not token.random_uid


async def test_random_uid_is_flagged(running_pcscd: Pcscd) -> None:
    async with collecting([ReaderConfig("r1", SLOT0)]) as taps:
        with VirtualCard(running_pcscd.slot_ports[0], bytes.fromhex("08123456")):
            token = await taps.next()
    assert token.random_uid and token.id_tag == "08123456"


async def test_reversing_reader_gives_iso_order(running_pcscd: Pcscd) -> None:
    async with collecting([ReaderConfig("r1", SLOT0, reverse_uid=True)]) as taps:
        with VirtualCard(running_pcscd.slot_ports[0], bytes.fromhex("F6E5D4C3B2A104")):
            token = await taps.next()
    assert token.id_tag == "04A1B2C3D4E5F6"


@pytest.mark.parametrize("reply", [UidReply.END_OF_DATA, UidReply.WRONG_LE])
async def test_odd_status_words_still_give_the_uid(running_pcscd: Pcscd, reply: UidReply) -> None:
    card = VirtualCard(running_pcscd.slot_ports[0], bytes.fromhex("04A1B2C3D4E5F6"), reply=reply)
    async with collecting([ReaderConfig("r1", SLOT0)]) as taps:
        with card:
            token = await taps.next()
    assert token.id_tag == "04A1B2C3D4E5F6"
    uid_le = [apdu[4] for apdu in card.apdus if apdu[:4] == GET_UID]
    assert uid_le == ([0x00, 0x07] if reply is UidReply.WRONG_LE else [0x00])


async def test_unsupported_uid_falls_back_to_atr_when_configured(running_pcscd: Pcscd) -> None:
    port = running_pcscd.slot_ports[0]
    async with collecting([ReaderConfig("r1", SLOT0, uid_from_atr=True)]) as taps:
        with VirtualCard(port, bytes.fromhex("04A1B2C3"), reply=UidReply.UNSUPPORTED):
            token = await taps.next()
    assert token.id_tag.startswith("ATR") and len(token.id_tag) <= 20
    assert token.extra["atr"] == DEFAULT_ATR.hex()


async def test_unsupported_uid_without_fallback_is_counted_and_survived(
    running_pcscd: Pcscd,
) -> None:
    port = running_pcscd.slot_ports[0]
    async with collecting([ReaderConfig("r1", SLOT0)]) as taps:
        with VirtualCard(port, bytes.fromhex("04A1B2C3"), reply=UidReply.UNSUPPORTED):
            await wait_until(lambda: "uid_unsupported" in taps.errors("r1"), "error counted")
            await asyncio.sleep(RESTING_S)
        with VirtualCard(port, bytes.fromhex("04D5E6F7")):
            token = await taps.next()
    assert token.id_tag == "04D5E6F7"
    assert taps.errors("r1") == {"uid_unsupported": 1}  # one read per tap, even when it fails
    assert taps.queue.empty()
