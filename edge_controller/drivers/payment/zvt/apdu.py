"""ZVT APDUs: class byte, instruction byte, length, data. Parsing is bounded: a length above
``MAX_DATA`` or a frame cut short is a ``FrameError``, never a wait for bytes that do not come."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

# The extended length allows 65535; nothing this driver receives comes near a tenth of it.
MAX_DATA = 4096
_EXTENDED = 0xFF


class FrameError(ValueError):
    """Bytes that are not a well-formed APDU."""


@dataclass(frozen=True, slots=True)
class Apdu:
    cls: int
    instr: int
    data: bytes = b""

    @property
    def command(self) -> tuple[int, int]:
        return (self.cls, self.instr)

    def __str__(self) -> str:  # the command only: the data may hold card details
        return f"{self.cls:02X} {self.instr:02X} ({len(self.data)} bytes)"


ACK = Apdu(0x80, 0x00)
REGISTRATION = (0x06, 0x00)
STATUS_ENQUIRY = (0x05, 0x01)
PRE_AUTHORISATION = (0x06, 0x22)
BOOK_TOTAL = (0x06, 0x24)
PRE_AUTHORISATION_REVERSAL = (0x06, 0x25)
END_OF_DAY = (0x06, 0x50)
ABORT_BY_ECR = (0x06, 0xB0)
COMPLETION = (0x06, 0x0F)
ABORT_BY_TERMINAL = (0x06, 0x1E)
REPEAT_RECEIPT = (0x06, 0x20)
STATUS_INFORMATION = (0x04, 0x0F)
INTERMEDIATE_STATUS = (0x04, 0xFF)
PRINT_LINE = (0x06, 0xD1)
PRINT_TEXT_BLOCK = (0x06, 0xD3)
NEGATIVE_ACK_CLASS = 0x84


def encode(apdu: Apdu) -> bytes:
    size = len(apdu.data)
    if size > 0xFFFF:
        raise FrameError(f"data of {size} bytes does not fit an APDU")
    if size < _EXTENDED:
        head = bytes((apdu.cls, apdu.instr, size))
    else:
        head = bytes((apdu.cls, apdu.instr, _EXTENDED)) + size.to_bytes(2, "little")
    return head + apdu.data


def decode(frame: bytes) -> Apdu:
    """One whole APDU from ``frame`` (exactly its bytes, nothing more)."""
    if len(frame) < 3:
        raise FrameError(f"{len(frame)} bytes: shorter than an APDU header")
    size, start = frame[2], 3
    if size == _EXTENDED:
        if len(frame) < 5:
            raise FrameError("extended length cut short")
        size, start = int.from_bytes(frame[3:5], "little"), 5
    _check_size(size)
    if len(frame) != start + size:
        raise FrameError(f"length says {size} data bytes, frame has {len(frame) - start}")
    return Apdu(frame[0], frame[1], frame[start:])


async def read_apdu(reader: asyncio.StreamReader) -> Apdu:
    """The next APDU from a stream; ``asyncio.IncompleteReadError`` if the peer closes."""
    head = await reader.readexactly(3)
    size = head[2]
    if size == _EXTENDED:
        size = int.from_bytes(await reader.readexactly(2), "little")
    _check_size(size)
    return Apdu(head[0], head[1], await reader.readexactly(size))


def _check_size(size: int) -> None:
    if size > MAX_DATA:
        raise FrameError(f"data length {size} above the {MAX_DATA} bytes accepted")
