"""A small contactless card for the vpcd virtual reader, answering the PC/SC GET UID pseudo-APDU.

vpcd (the vsmartcard reader driver inside pcscd) listens on one TCP port per slot. A card is
"on the reader" while a client is connected to that port. Every message in either direction is
a 2-byte big-endian length followed by the payload; from the reader, a 1-byte payload is a
control command (0 power off, 1 power on, 2 reset, 4 get ATR) and anything longer is an APDU.
The card answers ATR requests and APDUs, never power commands.
"""

from __future__ import annotations

import enum
import socket
import struct
import threading
from types import TracebackType

# MIFARE Classic 1K as a PC/SC part 3 reader reports it (RID 03, storage card, SS 03, NN 0001).
DEFAULT_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
GET_UID = bytes.fromhex("FFCA0000")
CTRL_GET_ATR = 4
SW_OK = b"\x90\x00"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"


class UidReply(enum.Enum):
    """How the card's reader answers GET UID (readers differ)."""

    OK = "9000"  # UID, 90 00
    END_OF_DATA = "6282"  # UID, 62 82 (fewer bytes than Le asked for)
    WRONG_LE = "6C"  # 6C xx unless Le is exactly the UID length
    UNSUPPORTED = "6A81"  # function not supported


class VirtualCard:
    """One card; ``insert()`` puts it on the vpcd slot at ``port``, ``remove()`` lifts it."""

    def __init__(
        self,
        port: int,
        uid: bytes,
        *,
        reply: UidReply = UidReply.OK,
        atr: bytes = DEFAULT_ATR,
        host: str = "127.0.0.1",
    ) -> None:
        self.port = port
        self.uid = uid
        self.reply = reply
        self.atr = atr
        self.host = host
        self.apdus: list[bytes] = []
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def insert(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=5.0)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else ~40 ms per APDU
        sock.settimeout(None)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        self._thread.start()

    def remove(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def __enter__(self) -> VirtualCard:
        self.insert()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def answer(self, apdu: bytes) -> bytes:
        """The R-APDU for ``apdu`` (public so the answers can be checked without a reader)."""
        self.apdus.append(apdu)
        if apdu[:4] != GET_UID:
            return SW_INS_NOT_SUPPORTED if apdu[0] != 0xFF else SW_OK
        le = apdu[4] if len(apdu) > 4 else 0
        return self._answer_uid(le)

    def _answer_uid(self, le: int) -> bytes:
        if self.reply is UidReply.UNSUPPORTED:
            return b"\x6a\x81"
        if self.reply is UidReply.WRONG_LE and le != len(self.uid):
            return bytes([0x6C, len(self.uid)])
        if self.reply is UidReply.END_OF_DATA:
            return self.uid + b"\x62\x82"
        return self.uid + SW_OK

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                message = _receive(sock)
                if message is None:
                    return
                if len(message) == 1:
                    if message[0] == CTRL_GET_ATR:
                        _send(sock, self.atr)
                    continue
                _send(sock, self.answer(message))
        except OSError:
            return  # lifted (socket closed) or the reader went away


def _receive(sock: socket.socket) -> bytes | None:
    header = _read_exact(sock, 2)
    if header is None:
        return None
    (length,) = struct.unpack(">H", header)
    return _read_exact(sock, length)


def _read_exact(sock: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack(">H", len(payload)) + payload)
