"""Buzzer/LED feedback through reader escape commands (ports.ReaderFeedback), where known.

ACS ACR122U: pseudo-APDU ``FF 00 40 P2 04 T1 T2 N B`` (LED and buzzer control). P2 bits:
0/1 final red/green, 2/3 update red/green, 4/5 initial blink red/green, 6/7 blink red/green;
T1/T2 in units of 100 ms, N repetitions, B buzzer (1: during T1). Sent as an escape command to
the reader (no card needed); when the reader refuses escapes, through the card if one is there.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from smartcard import scard

from edge_controller.drivers.pcsc import pcsc_io
from edge_controller.drivers.pcsc.config import ReaderConfig
from edge_controller.drivers.pcsc.stats import ReaderStats
from edge_controller.ports import DeviceFault, DeviceUnavailable

ACR122_NAME = re.compile(r"ACR122", re.IGNORECASE)
ESCAPE_CODE = scard.SCARD_CTL_CODE(3500)  # IOCTL_CCID_ESCAPE of the Linux CCID driver
SIGNAL_TIMEOUT_S = 3.0
_GREEN_BLINK = 0x80 | 0x20 | 0x08  # blink green, start on, green off afterwards
_RED_BLINK = 0x40 | 0x10 | 0x04  # blink red, start on, red off afterwards


def acr122_signal_apdu(accepted: bool) -> bytes:
    if accepted:
        return bytes([0xFF, 0x00, 0x40, _GREEN_BLINK, 0x04, 0x02, 0x01, 0x01, 0x01])
    return bytes([0xFF, 0x00, 0x40, _RED_BLINK, 0x04, 0x01, 0x01, 0x03, 0x01])


class PcscFeedback:
    """Signals accepted/rejected on one reader (ports.ReaderFeedback)."""

    def __init__(self, reader_id: str, stats: ReaderStats) -> None:
        self.reader_id = reader_id
        self._stats = stats

    async def signal(self, accepted: bool) -> None:
        name = self._stats.pcsc_name(self.reader_id)
        if name is None:
            raise DeviceUnavailable(f"reader {self.reader_id} is not connected")
        apdu = acr122_signal_apdu(accepted)
        try:
            await asyncio.wait_for(asyncio.to_thread(_send, name, apdu), SIGNAL_TIMEOUT_S)
        except (pcsc_io.PcscError, TimeoutError) as exc:
            raise DeviceUnavailable(f"feedback on {self.reader_id} failed: {exc}") from exc


def feedback_for(config: ReaderConfig, stats: ReaderStats) -> PcscFeedback | None:
    if config.feedback == "none":
        return None
    if config.feedback == "auto":
        name = stats.pcsc_name(config.reader_id) or config.name_pattern
        if not ACR122_NAME.search(name):
            return None
    return PcscFeedback(config.reader_id, stats)


def _send(reader_name: str, apdu: bytes) -> None:
    context = pcsc_io.establish()
    try:
        _escape_or_transmit(context, reader_name, apdu)
    finally:
        pcsc_io.release(context)


def _escape_or_transmit(context: Any, reader_name: str, apdu: bytes) -> None:
    try:
        pcsc_io.control(context, reader_name, ESCAPE_CODE, apdu)
        return
    except pcsc_io.ServiceGone:
        raise
    except pcsc_io.PcscError:
        pass  # escapes disabled in the CCID driver: try through the card
    with pcsc_io.card_connection(context, reader_name) as (card, protocol):
        response = pcsc_io.transmit(card, protocol, apdu)
    if response[-2:] != b"\x90\x00":
        raise DeviceFault(f"LED/buzzer control answered {response[-2:].hex().upper()}")
