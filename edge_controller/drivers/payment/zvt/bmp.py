"""ZVT data fields (BMPs): a tag byte, then a fixed length, an LLVAR/LLLVAR length (digits as
F0..F9 bytes) or a BER-length TLV container. Amounts are 6 bytes of BCD in minor units."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from edge_controller.drivers.payment.zvt.apdu import FrameError

AMOUNT = 0x04
TRACE = 0x0B
TIME = 0x0C
DATE = 0x0D
EXPIRY = 0x0E
CARD_SEQUENCE = 0x17
PAYMENT_TYPE = 0x19
PAN = 0x22
RESULT_CODE = 0x27
TERMINAL_ID = 0x29
VU_NUMBER = 0x2A
ORIGINAL_TRACE = 0x37
AID = 0x3B
ADDITIONAL_TEXT = 0x3C
CURRENCY = 0x49
RECEIPT_NO = 0x87
TURNOVER_NO = 0x88
CARD_TYPE = 0x8A
CARD_NAME = 0x8B
CARD_TYPE_ID = 0x8C
RESULT_CODE_AS = 0xA0
AID_PARAMETER = 0xBA
SERVICE_BYTE = 0x03
TLV = 0x06

_LLVAR, _LLLVAR, _BER = -2, -3, -1
_LENGTHS: dict[int, int] = {
    0x01: 1,  # timeout
    0x02: 1,  # max status infos
    0x05: 1,  # pump number
    SERVICE_BYTE: 1,
    AMOUNT: 6,
    TRACE: 3,
    TIME: 3,
    DATE: 2,
    EXPIRY: 2,
    CARD_SEQUENCE: 2,
    PAYMENT_TYPE: 1,
    PAN: _LLVAR,
    RESULT_CODE: 1,
    TERMINAL_ID: 4,
    VU_NUMBER: 15,
    ORIGINAL_TRACE: 3,
    AID: 8,
    ADDITIONAL_TEXT: _LLLVAR,
    CURRENCY: 2,
    RECEIPT_NO: 2,
    TURNOVER_NO: 3,
    CARD_TYPE: 1,
    CARD_NAME: _LLVAR,
    CARD_TYPE_ID: 1,
    RESULT_CODE_AS: 1,
    AID_PARAMETER: 5,
    TLV: _BER,
}
MAX_AMOUNT_MINOR = 10**12 - 1  # 12 BCD digits


def bcd(value: int, size: int) -> bytes:
    """``value`` as ``size`` bytes of packed BCD, most significant digit first."""
    digits = str(value).rjust(2 * size, "0")
    if value < 0 or len(digits) > 2 * size:
        raise ValueError(f"{value} does not fit {size} BCD bytes")
    return bytes.fromhex(digits)


def from_bcd(raw: bytes) -> int:
    text = raw.hex()
    if not text.isdigit():
        raise FrameError(f"not BCD: {len(raw)} bytes with a digit above 9")
    return int(text)


def amount_field(minor: int) -> bytes:
    if not 0 <= minor <= MAX_AMOUNT_MINOR:
        raise ValueError(f"amount of {minor} minor units does not fit 12 BCD digits")
    return bytes((AMOUNT,)) + bcd(minor, 6)


def field(tag: int, value: bytes) -> bytes:
    """A fixed-length field; variable ones are built with ``llvar``."""
    if _LENGTHS.get(tag) != len(value):
        raise ValueError(f"BMP {tag:02X} takes {_LENGTHS.get(tag)} bytes, not {len(value)}")
    return bytes((tag,)) + value


def llvar(tag: int, value: bytes) -> bytes:
    kind = _LENGTHS.get(tag)
    places = {_LLVAR: 2, _LLLVAR: 3}.get(kind or 0)
    if places is None or len(value) >= 10**places:
        raise ValueError(f"BMP {tag:02X} is not a variable field of {len(value)} bytes")
    prefix = bytes(0xF0 | int(d) for d in str(len(value)).rjust(places, "0"))
    return bytes((tag,)) + prefix + value


def join(fields: Iterable[bytes]) -> bytes:
    return b"".join(fields)


def parse(data: bytes) -> Mapping[int, bytes]:
    """Every field of an APDU's data, by tag. An unknown tag ends parsing with an error: its
    length cannot be known, so nothing after it can be trusted."""
    found: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        tag = data[pos]
        kind = _LENGTHS.get(tag)
        if kind is None:
            raise FrameError(f"unknown BMP {tag:02X} at byte {pos}")
        start, size = _extent(data, pos + 1, kind)
        if start + size > len(data):
            raise FrameError(f"BMP {tag:02X} runs past the end of the data")
        found[tag] = data[start : start + size]
        pos = start + size
    return found


def _extent(data: bytes, pos: int, kind: int) -> tuple[int, int]:
    if kind >= 0:
        return pos, kind
    if kind == _BER:
        return _ber_length(data, pos)
    places = -kind
    prefix = data[pos : pos + places]
    if len(prefix) != places or any(b & 0xF0 != 0xF0 or b & 0x0F > 9 for b in prefix):
        raise FrameError("variable field length is not F0..F9 digits")
    return pos + places, int("".join(str(b & 0x0F) for b in prefix))


def _ber_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise FrameError("TLV length missing")
    first = data[pos]
    if first < 0x80:
        return pos + 1, first
    count = first & 0x7F
    if count not in (1, 2) or pos + 1 + count > len(data):
        raise FrameError("TLV length malformed")
    return pos + 1 + count, int.from_bytes(data[pos + 1 : pos + 1 + count], "big")
