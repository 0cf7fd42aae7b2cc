"""PC/SC part 3 pseudo-APDUs: GET UID and the answers readers really give. Pure."""

from __future__ import annotations

import enum
from dataclasses import dataclass

GET_UID_HEADER = bytes([0xFF, 0xCA, 0x00, 0x00])


class UidStatus(enum.Enum):
    OK = "ok"  # data is the UID
    RETRY = "retry"  # ask again with Le = retry_le
    UNSUPPORTED = "unsupported"  # the card/reader cannot report a UID
    FAILED = "failed"  # a transient failure (card lifted mid-read, reader error)


@dataclass(frozen=True, slots=True)
class UidAnswer:
    status: UidStatus
    uid: bytes = b""
    retry_le: int = 0
    status_word: str = ""


def get_uid_command(le: int = 0) -> bytes:
    """``FF CA 00 00 Le``; Le 00 asks for the whole UID."""
    return GET_UID_HEADER + bytes([le & 0xFF])


def parse_uid_response(response: bytes) -> UidAnswer:
    """Interpret a GET UID response (data followed by the two status bytes)."""
    if len(response) < 2:
        return UidAnswer(UidStatus.FAILED, status_word=response.hex().upper())
    data, sw1, sw2 = response[:-2], response[-2], response[-1]
    word = f"{sw1:02X}{sw2:02X}"
    # 62 82: fewer bytes than Le asked for; some readers say so even for Le 00. Data is valid.
    if (sw1, sw2) in ((0x90, 0x00), (0x62, 0x82)) and data:
        return UidAnswer(UidStatus.OK, uid=data, status_word=word)
    if sw1 == 0x6C and sw2 != 0:
        return UidAnswer(UidStatus.RETRY, retry_le=sw2, status_word=word)
    # 6A 81 function not supported; 6D 00 / 6E 00 when the APDU reaches a card that does not
    # know the pseudo-APDU (a reader passing it through).
    if (sw1, sw2) in ((0x6A, 0x81), (0x6D, 0x00), (0x6E, 0x00)):
        return UidAnswer(UidStatus.UNSUPPORTED, status_word=word)
    return UidAnswer(UidStatus.FAILED, status_word=word)
