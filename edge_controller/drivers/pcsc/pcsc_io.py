"""Thin blocking wrapper over ``smartcard.scard``: pyscard's result codes become exceptions here.

Every function blocks; call them from the reader's worker thread only (``cancel`` excepted).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from smartcard import scard

PNP_NOTIFICATION = "\\\\?PnP?\\Notification"
ANY_PROTOCOL = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
# The resource manager is gone (pcscd stopped or restarted): start over with a new context.
_SERVICE_GONE = frozenset(
    {
        scard.SCARD_E_NO_SERVICE,
        scard.SCARD_E_SERVICE_STOPPED,
        scard.SCARD_E_INVALID_HANDLE,
        scard.SCARD_F_COMM_ERROR,
    }
)


class PcscError(Exception):
    def __init__(self, call: str, code: int) -> None:
        self.call = call
        self.code = code & 0xFFFFFFFF
        super().__init__(f"{call}: {scard.SCardGetErrorMessage(code)} (0x{self.code:08X})")


class ServiceGone(PcscError):
    """pcscd is not (or no longer) reachable through this context."""


def _check(call: str, code: int) -> None:
    if code != scard.SCARD_S_SUCCESS:
        raise (ServiceGone if code in _SERVICE_GONE else PcscError)(call, code)


@dataclass
class ReaderState:
    name: str
    current: int = scard.SCARD_STATE_UNAWARE
    event: int = 0
    atr: bytes = b""

    @property
    def present(self) -> bool:
        return bool(self.event & scard.SCARD_STATE_PRESENT) and not bool(
            self.event & scard.SCARD_STATE_MUTE
        )

    @property
    def gone(self) -> bool:
        return bool(self.event & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE))

    @property
    def event_count(self) -> int:
        return (self.event >> 16) & 0xFFFF


def establish() -> Any:
    code, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    _check("SCardEstablishContext", code)
    return context


def release(context: Any) -> None:
    scard.SCardReleaseContext(context)  # result ignored: the context may already be dead


def cancel(context: Any) -> None:
    """Wake a blocked ``wait_change`` (callable from any thread)."""
    scard.SCardCancel(context)


def list_readers(context: Any) -> list[str]:
    code, names = scard.SCardListReaders(context, [])
    if code == scard.SCARD_E_NO_READERS_AVAILABLE:
        return []
    _check("SCardListReaders", code)
    return list(names)


def wait_change(context: Any, states: list[ReaderState], timeout_ms: int) -> bool:
    """Block until a state differs from ``current``; updates ``event``/``atr``.

    False on timeout or cancel. The caller copies ``event`` into ``current`` once handled.
    """
    request = [(s.name, s.current) for s in states]
    code, result = scard.SCardGetStatusChange(context, timeout_ms, request)
    if code in (scard.SCARD_E_TIMEOUT, scard.SCARD_E_CANCELLED):
        return False
    _check("SCardGetStatusChange", code)
    for state, (_, event, atr) in zip(states, result, strict=True):
        state.event = event
        state.atr = bytes(atr)
    return True


def card_present(context: Any, reader: str) -> bool:
    """Whether a card lies on ``reader`` now, as pcscd last saw it (does not block)."""
    state = ReaderState(reader)
    wait_change(context, [state], 0)  # an unaware state differs from any: answers at once
    return state.present


@contextmanager
def card_connection(context: Any, reader: str) -> Iterator[tuple[Any, int]]:
    code, card, protocol = scard.SCardConnect(
        context, reader, scard.SCARD_SHARE_SHARED, ANY_PROTOCOL
    )
    _check("SCardConnect", code)
    try:
        yield card, protocol
    finally:
        scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)


def transmit(card: Any, protocol: int, apdu: bytes) -> bytes:
    code, response = scard.SCardTransmit(card, protocol, list(apdu))
    _check("SCardTransmit", code)
    return bytes(response)


def control(context: Any, reader: str, control_code: int, data: bytes) -> bytes:
    """Send an escape command to the reader itself (no card needed)."""
    code, card, _ = scard.SCardConnect(context, reader, scard.SCARD_SHARE_DIRECT, 0)
    _check("SCardConnect(direct)", code)
    try:
        code, response = scard.SCardControl(card, control_code, list(data))
        _check("SCardControl", code)
        return bytes(response)
    finally:
        scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
