"""Serial-line and TCP framing around a PDU: RTU (CRC-16), ASCII (LRC), MBAP. Pure."""

from __future__ import annotations

import struct

from edge_controller.drivers.modbus.pdu import FrameError


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """Modbus CRC-16 (polynomial 0xA001, initial 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def rtu_frame(unit_id: int, pdu: bytes) -> bytes:
    body = bytes([unit_id]) + pdu
    return body + crc16(body).to_bytes(2, "little")


def rtu_reply_size(buffer: bytes) -> int | None:
    """Total size of the RTU reply starting ``buffer``, or None while too short to tell."""
    if len(buffer) < 3:
        return None
    fc = buffer[1]
    if fc & 0x80:
        return 5
    if fc in (1, 2, 3, 4):
        return 5 + buffer[2]
    if fc in (5, 6, 15, 16):
        return 8
    raise FrameError("framing", f"unexpected function code {fc} in reply")


def rtu_unframe(unit_id: int, frame: bytes) -> bytes:
    """The PDU inside a complete RTU reply; checks CRC and unit id."""
    if len(frame) < 4:
        raise FrameError("framing", "RTU frame too short")
    if crc16(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
        raise FrameError("crc", "CRC mismatch")
    if frame[0] != unit_id:
        raise FrameError("framing", f"reply from unit {frame[0]}, asked {unit_id}")
    return frame[1:-2]


def lrc(data: bytes) -> int:
    return (-sum(data)) & 0xFF


def ascii_frame(unit_id: int, pdu: bytes) -> bytes:
    body = bytes([unit_id]) + pdu
    return b":" + (body + bytes([lrc(body)])).hex().upper().encode() + b"\r\n"


def ascii_unframe(unit_id: int, line: bytes) -> bytes:
    """The PDU inside an ASCII reply line (':' start; some devices answer with '>')."""
    text = line.strip()
    text = text[max(text.rfind(b":"), text.rfind(b">"), 0) :]
    if len(text) < 7 or text[:1] not in (b":", b">") or (len(text) - 1) % 2:
        raise FrameError("framing", "malformed ASCII frame")
    try:
        raw = bytes.fromhex(text[1:].decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FrameError("framing", "non-hex characters in ASCII frame") from exc
    if lrc(raw[:-1]) != raw[-1]:
        raise FrameError("crc", "LRC mismatch")
    if raw[0] != unit_id:
        raise FrameError("framing", f"reply from unit {raw[0]}, asked {unit_id}")
    return raw[1:-1]


MBAP_HEADER = 7


def mbap_frame(transaction_id: int, unit_id: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", transaction_id, 0, len(pdu) + 1, unit_id) + pdu


def mbap_reply_size(buffer: bytes) -> int | None:
    if len(buffer) < 6:
        return None
    _transaction_id, protocol, length = struct.unpack(">HHH", buffer[:6])
    if protocol != 0 or not 2 <= length <= 254:
        raise FrameError("framing", "invalid MBAP header")
    return 6 + int(length)


def mbap_unframe(frame: bytes) -> tuple[int, int, bytes]:
    """(transaction id, unit id, PDU) of a complete MBAP frame."""
    transaction_id, _protocol, _length, unit_id = struct.unpack(">HHHB", frame[:MBAP_HEADER])
    return transaction_id, unit_id, frame[MBAP_HEADER:]
