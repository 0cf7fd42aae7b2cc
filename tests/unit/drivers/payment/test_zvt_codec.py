"""ZVT framing and fields against byte strings written out by hand from the protocol's layout."""

from __future__ import annotations

import asyncio

import pytest

from edge_controller.drivers.payment.zvt import apdu as a
from edge_controller.drivers.payment.zvt import bmp


def test_short_apdu_has_one_length_byte() -> None:
    assert a.encode(a.Apdu(0x06, 0x22, bytes(9))) == bytes.fromhex("062209") + bytes(9)
    assert a.encode(a.ACK) == bytes.fromhex("800000")
    assert a.encode(a.Apdu(*a.ABORT_BY_ECR)) == bytes.fromhex("06b000")


def test_long_apdu_uses_ff_and_little_endian_length() -> None:
    frame = a.encode(a.Apdu(0x06, 0xD3, bytes(300)))
    assert frame[:5] == bytes.fromhex("06d3ff2c01")
    assert a.decode(frame) == a.Apdu(0x06, 0xD3, bytes(300))


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (bytes.fromhex("0622"), "shorter than an APDU header"),
        (bytes.fromhex("06d3ff01"), "extended length cut short"),
        (bytes.fromhex("06220501"), "length says 5"),
        (bytes.fromhex("06d3ffffff"), "above the 4096 bytes"),
    ],
)
def test_malformed_frames_are_named(frame: bytes, reason: str) -> None:
    with pytest.raises(a.FrameError, match=reason):
        a.decode(frame)


async def test_stream_reader_refuses_an_oversized_length_without_waiting_for_it() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(bytes.fromhex("040fff00f0"))  # claims 61440 bytes
    with pytest.raises(a.FrameError):
        await asyncio.wait_for(a.read_apdu(reader), 1.0)


@pytest.mark.parametrize(
    ("minor", "encoded"),
    [(1234, "04000000001234"), (0, "04000000000000"), (999999999999, "04999999999999")],
)
def test_amount_is_six_bcd_bytes_of_minor_units(minor: int, encoded: str) -> None:
    assert bmp.amount_field(minor) == bytes.fromhex(encoded)
    assert bmp.from_bcd(bytes.fromhex(encoded)[1:]) == minor


def test_amount_beyond_twelve_digits_or_negative_is_refused() -> None:
    for minor in (10**12, -1):
        with pytest.raises(ValueError, match="12 BCD digits"):
            bmp.amount_field(minor)


def test_status_information_fields_parse_fixed_llvar_and_tlv() -> None:
    data = bytes.fromhex(
        "2700"  # result code
        "04000000002000"  # 20.00
        "0b001001"  # trace
        "870001"  # receipt
        "22f0f9" + "673412eeeeeeee0019"  # masked PAN, LLVAR of 9
        "8bf0f8" + b"Girocard".hex() + "060301020a"  # card name, TLV container of 3 bytes
    )
    fields = bmp.parse(data)
    assert fields[bmp.RESULT_CODE] == b"\x00"
    assert bmp.from_bcd(fields[bmp.AMOUNT]) == 2000
    assert bmp.from_bcd(fields[bmp.TRACE]) == 1001
    assert bmp.from_bcd(fields[bmp.RECEIPT_NO]) == 1
    assert fields[bmp.CARD_NAME] == b"Girocard"
    assert fields[bmp.TLV] == bytes.fromhex("01020a")
    assert len(fields[bmp.PAN]) == 9


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes.fromhex("f1"), "unknown BMP F1"),
        (bytes.fromhex("040000"), "runs past the end"),
        (bytes.fromhex("22f1"), "F0..F9"),
        (bytes.fromhex("22fafa"), "F0..F9"),
        (bytes.fromhex("0683010000"), "TLV length malformed"),
        (bytes.fromhex("04000000001a34"), None),  # parses; the digit A is caught by from_bcd
    ],
)
def test_malformed_fields_are_named(data: bytes, reason: str | None) -> None:
    if reason is None:
        with pytest.raises(a.FrameError, match="not BCD"):
            bmp.from_bcd(bmp.parse(data)[bmp.AMOUNT])
        return
    with pytest.raises(a.FrameError, match=reason):
        bmp.parse(data)


def test_llvar_length_digits() -> None:
    assert bmp.llvar(bmp.CARD_NAME, b"Visa") == bytes.fromhex("8bf0f4") + b"Visa"
    assert bmp.llvar(bmp.ADDITIONAL_TEXT, b"x" * 123)[:4] == bytes.fromhex("3cf1f2f3")
