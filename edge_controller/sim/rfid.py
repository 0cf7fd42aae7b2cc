"""Virtual RFID cards for simulated readers: a card tapped on a vpcd virtual reader slot.

vpcd (the vsmartcard reader driver inside pcscd) listens on one TCP port per slot; a card is
"on the reader" while a client is connected to that port. Every message in either direction is a
2-byte big-endian length followed by the payload. From the reader, a 1-byte payload is a control
command (0 power off, 1 power on, 2 reset, 4 get ATR) and anything longer is an APDU. The card
answers ATR requests and APDUs, never power commands. It answers the PC/SC GET UID pseudo-APDU
(FF CA 00 00) with its UID and 90 00, as a contactless reader does for a MIFARE card.

Which simulated reader sits on which vpcd port: ``EDGE_CONTROLLER_SIM_READERS`` =
``id=port`` or ``id=host:port`` pairs separated by commas (vpcd's own default port is 35963 for
slot 0, 35964 for slot 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from edge_controller.domain.sessions.tokens import masked
from edge_controller.log import get_logger

READERS_ENV = "EDGE_CONTROLLER_SIM_READERS"
VPCD_DEFAULT_PORT = 35963
# MIFARE Classic 1K as a PC/SC part 3 reader reports it (RID 03, storage card, SS 03, NN 0001).
MIFARE_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
GET_UID = bytes.fromhex("FFCA0000")
CTRL_GET_ATR = 4
SW_OK = b"\x90\x00"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"
UID_LENGTHS = (4, 7, 10)  # ISO 14443-3 single, double, triple size
MAX_HOLD_S = 10.0
CONNECT_TIMEOUT_S = 3.0
LIFT_TIMEOUT_S = 1.0  # closing the card's connection (vpcd may have closed it already)
_log = get_logger("sim.rfid")


class ReaderUnavailable(RuntimeError):
    """Nothing listens on the reader's vpcd port (pcscd with vpcd is not running)."""


class ReaderBusy(RuntimeError):
    """Another card is on this reader right now."""


def parse_uid(text: str) -> bytes:
    """A UID given as hex ("04A1B2C3", "04:a1:b2:c3"); 4, 7 or 10 bytes."""
    cleaned = text.replace(":", "").replace(" ", "")
    try:
        uid = bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError(f"uid must be hexadecimal, not {text!r}") from None
    if len(uid) not in UID_LENGTHS:
        raise ValueError(f"uid must be 4, 7 or 10 bytes, not {len(uid)}")
    return uid


def card_answer(uid: bytes, apdu: bytes) -> bytes:
    """The card's R-APDU for ``apdu``: GET UID → UID + 90 00; other reader pseudo-APDUs (class
    FF) succeed without data; anything else is not supported."""
    if apdu[:4] == GET_UID:
        return uid + SW_OK
    return SW_OK if apdu[:1] == b"\xff" else SW_INS_NOT_SUPPORTED


def tap_bound_s(hold_s: float) -> float:
    """The longest a tap held ``hold_s`` takes on the simulator: reaching the vpcd slot, the
    hold, the lift. A client waiting for the tap's answer must wait this long besides its own
    round trip."""
    return CONNECT_TIMEOUT_S + hold_s + LIFT_TIMEOUT_S


def frame(payload: bytes) -> bytes:
    return struct.pack(">H", len(payload)) + payload


@dataclass(slots=True)
class TapResult:
    reader_id: str
    uid: str
    held_s: float
    apdus: list[str] = field(default_factory=list)  # hex, in the order the reader sent them

    def as_dict(self) -> dict[str, object]:
        return {"reader": self.reader_id, "uid": self.uid, "held_s": self.held_s,
                "apdus": self.apdus}  # fmt: skip


async def _serve_card(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, uid: bytes, result: TapResult
) -> None:
    while True:
        header = await reader.readexactly(2)
        (length,) = struct.unpack(">H", header)
        message = await reader.readexactly(length)
        if len(message) == 1:
            if message[0] == CTRL_GET_ATR:
                writer.write(frame(MIFARE_ATR))
                await writer.drain()
            continue
        result.apdus.append(message.hex().upper())
        writer.write(frame(card_answer(uid, message)))
        await writer.drain()


async def hold_card(host: str, port: int, uid: bytes, hold_s: float, result: TapResult) -> None:
    """Put a card on the vpcd slot at ``host:port`` for ``hold_s`` seconds, then lift it. Each
    step is logged with its time, so a tap answered late shows which one it waited in."""
    started_s = time.monotonic()
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as exc:
        _log.info("sim_card_not_on_reader", port=port, connect_s=_since(started_s), error=str(exc))
        raise ReaderUnavailable(f"no virtual reader on {host}:{port} ({exc})") from exc
    _log.info("sim_card_on_reader", port=port, connect_s=_since(started_s))
    held_from_s = time.monotonic()
    try:
        async with asyncio.timeout(hold_s):
            await _serve_card(reader, writer, uid, result)
    except TimeoutError:
        pass  # the card was held for its time: lift it
    except (asyncio.IncompleteReadError, OSError):
        _log.info("virtual reader closed the card connection", port=port)
    finally:
        lifted_s = time.monotonic()
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):  # already gone
            await asyncio.wait_for(writer.wait_closed(), timeout=LIFT_TIMEOUT_S)
        _log.info("sim_card_lifted", port=port, held_s=round(lifted_s - held_from_s, 3),
                  close_s=_since(lifted_s), apdus=len(result.apdus))  # fmt: skip


def _since(start_s: float) -> float:
    return round(time.monotonic() - start_s, 3)


@dataclass(frozen=True, slots=True)
class Slot:
    host: str
    port: int


class VirtualReaders:
    """The simulated readers by id, each a vpcd slot; one card at a time per reader."""

    def __init__(self, slots: Mapping[str, Slot]) -> None:
        self.slots = dict(slots)
        self._locks = {rid: asyncio.Lock() for rid in self.slots}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> VirtualReaders:
        return cls(parse_slots(environ.get(READERS_ENV, "")))

    async def tap(self, reader_id: str, uid_text: str, hold_s: float = 1.0) -> TapResult:
        """Hold a card with ``uid_text`` on the reader for ``hold_s`` s; KeyError: no reader."""
        slot = self.slots[reader_id]
        if not 0 < hold_s <= MAX_HOLD_S:
            raise ValueError(f"hold_s must be within (0, {MAX_HOLD_S:g}] s")
        uid = parse_uid(uid_text)
        lock = self._locks[reader_id]
        if lock.locked():
            _log.info("sim_tap_refused", reader=reader_id, reason="a card is on it already")
            raise ReaderBusy(f"a card is on reader {reader_id!r} already")
        started_s = time.monotonic()
        _log.info("sim_tap_started", reader=reader_id, port=slot.port, hold_s=hold_s)
        async with lock:
            result = TapResult(reader_id, uid.hex().upper(), hold_s)
            await hold_card(slot.host, slot.port, uid, hold_s, result)
        _log.info("sim_card_tapped", reader=reader_id, uid=masked(result.uid),
                  apdus=len(result.apdus), took_s=_since(started_s))  # fmt: skip
        return result


def parse_slots(text: str) -> dict[str, Slot]:
    """``"entrance=35963,exit=127.0.0.1:35964"`` → slots by reader id (host default loopback)."""
    slots: dict[str, Slot] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        reader_id, sep, where = item.partition("=")
        host, _, port_text = where.rpartition(":")
        if not sep or not reader_id or not port_text.isdigit():
            raise ValueError(f"{READERS_ENV}: expected id=port or id=host:port, not {item!r}")
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise ValueError(f"{READERS_ENV}: port out of range in {item!r}")
        slots[reader_id] = Slot(host or "127.0.0.1", port)
    return slots
