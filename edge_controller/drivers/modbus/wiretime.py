"""Modbus RTU / ASCII wire-time model. Pure.

A character on an RS-485 line is 11 bits (start, 8 data, parity or second stop, stop). RTU frames
are separated by at least 3.5 character times of silence (fixed at 1.75 ms above 19200 baud, as
the Modbus serial line specification allows). A slave answers no earlier than that silence, or its
configured turnaround if longer (the larger of the two, not their sum); the master waits the
silence (or the device's gap) again before its next request. The simulator times its answers
with the same model.
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


def exchange_s(
    baud: int,
    request_chars: int,
    reply_chars: int,
    *,
    turnaround_s: float = 0.0,
    framing: str = "rtu",
) -> float:
    """From a request's first character on the line to its reply's last: both frames and,
    between them, the device's turnaround, never shorter than the RTU silence."""
    silence = silence_s(baud) if framing == "rtu" else 0.0
    return (request_chars + reply_chars) * char_time_s(baud) + max(turnaround_s, silence)


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
    silence = silence_s(baud) if framing == "rtu" else 0.0
    request, reply = frame_chars(request_pdu_bytes, framing), frame_chars(reply_pdu_bytes, framing)
    exchange = exchange_s(baud, request, reply, turnaround_s=turnaround_s, framing=framing)
    return exchange + max(silence, gap_s)


def frame_time_s(baud: int, frame_bytes: int) -> float:
    return frame_bytes * char_time_s(baud)
