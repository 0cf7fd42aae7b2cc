"""Modbus RTU / ASCII wire-time model. Pure.

A character on an RS-485 line is 11 bits (start, 8 data, parity or second stop, stop). RTU frames
are separated by at least 3.5 character times of silence (fixed at 1.75 ms above 19200 baud, as
the Modbus serial line specification allows). A slave answers no earlier than that silence, or its
configured turnaround if longer; the master waits the silence (or the device's gap) again before
its next request.
"""

from __future__ import annotations

from typing import Literal

BITS_PER_CHAR = 11
RTU_OVERHEAD = 3  # unit id + CRC-16
ASCII_OVERHEAD_CHARS = 7  # ':' + 2 (unit) + 2 (LRC) + CR LF
MAX_SILENCE_S = 0.00175


def char_time_s(baud: int) -> float:
    return BITS_PER_CHAR / baud


def silence_s(baud: int) -> float:
    return MAX_SILENCE_S if baud > 19200 else 3.5 * char_time_s(baud)


def frame_chars(pdu_bytes: int, framing: Literal["rtu", "ascii"] = "rtu") -> int:
    if framing == "ascii":
        return ASCII_OVERHEAD_CHARS + 2 * pdu_bytes
    return RTU_OVERHEAD + pdu_bytes


def transaction_s(
    baud: int,
    request_pdu_bytes: int,
    reply_pdu_bytes: int,
    *,
    turnaround_s: float = 0.0,
    gap_s: float = 0.0,
    framing: Literal["rtu", "ascii"] = "rtu",
) -> float:
    """Shortest time one request/reply pair occupies the line, including the following silence."""
    char_s = char_time_s(baud)
    silence = silence_s(baud) if framing == "rtu" else 0.0
    request = frame_chars(request_pdu_bytes, framing) * char_s
    reply = frame_chars(reply_pdu_bytes, framing) * char_s
    return request + max(turnaround_s, silence) + reply + max(silence, gap_s)


def frame_time_s(baud: int, frame_bytes: int) -> float:
    return frame_bytes * char_time_s(baud)
