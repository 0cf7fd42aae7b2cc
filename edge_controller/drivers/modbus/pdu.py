"""Modbus application PDUs (function code + data): build requests, parse responses. Pure."""

from __future__ import annotations

import struct

from edge_controller.drivers.profiles.schema import Table

READ_FC: dict[str, int] = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}
FC_WRITE_COIL = 5
FC_WRITE_REGISTER = 6
FC_WRITE_REGISTERS = 16
MAX_READ_REGISTERS = 125
MAX_READ_BITS = 2000

EXCEPTION_NAMES: dict[int, str] = {
    0x01: "illegal function",
    0x02: "illegal data address",
    0x03: "illegal data value",
    0x04: "server device failure",
    0x05: "acknowledge",
    0x06: "server device busy",
    0x07: "negative acknowledge",
    0x08: "memory parity error",
    0x0A: "gateway path unavailable",
    0x0B: "gateway target device failed to respond",
}


class ModbusExceptionResponse(Exception):
    """The device answered with an exception code (01–0B)."""

    def __init__(self, function_code: int, code: int) -> None:
        self.function_code = function_code
        self.code = code
        name = EXCEPTION_NAMES.get(code, "unknown exception")
        super().__init__(f"exception {code:02X} ({name}) to function {function_code}")


class FrameError(Exception):
    """A reply that is not a valid frame: bad CRC/LRC, wrong length, wrong unit or function."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind  # "crc" or "framing"
        super().__init__(message)


def read_request(table: Table, address: int, count: int) -> bytes:
    limit = MAX_READ_BITS if table in ("coil", "discrete") else MAX_READ_REGISTERS
    if not 1 <= count <= limit or not 0 <= address <= 0xFFFF or address + count > 0x10000:
        raise ValueError(f"cannot read {count} from {table} {address}")
    return struct.pack(">BHH", READ_FC[table], address, count)


def write_register_request(address: int, value: int) -> bytes:
    return struct.pack(">BHH", FC_WRITE_REGISTER, address, value)


def write_registers_request(address: int, values: list[int]) -> bytes:
    if not 1 <= len(values) <= 123:
        raise ValueError("FC 16 writes 1..123 registers")
    head = struct.pack(">BHHB", FC_WRITE_REGISTERS, address, len(values), 2 * len(values))
    return head + b"".join(v.to_bytes(2, "big") for v in values)


def write_coil_request(address: int, on: bool) -> bytes:
    return struct.pack(">BHH", FC_WRITE_COIL, address, 0xFF00 if on else 0x0000)


_TABLE_OF_FC: dict[int, str] = {fc: table for table, fc in READ_FC.items()}
_TABLE_OF_FC.update({FC_WRITE_COIL: "coil", FC_WRITE_REGISTER: "holding"})
_TABLE_OF_FC[FC_WRITE_REGISTERS] = "holding"


def describe(request: bytes) -> str:
    """The registers a request reads or writes, for messages: "read holding 1232-1253"."""
    fc = request[0]
    if fc not in _TABLE_OF_FC or len(request) < 5:
        return f"function {fc}"
    address = int.from_bytes(request[1:3], "big")
    count = int.from_bytes(request[3:5], "big") if fc in (*READ_FC.values(), 16) else 1
    verb = "read" if fc in READ_FC.values() else "write"
    span = f"{address}" if count == 1 else f"{address}-{address + count - 1}"
    return f"{verb} {_TABLE_OF_FC[fc]} {span}"


def check_exception(request: bytes, response: bytes) -> None:
    """Raise for an exception reply or a reply to a different function."""
    if not response:
        raise FrameError("framing", "empty reply")
    fc = request[0]
    if response[0] == fc | 0x80:
        if len(response) != 2:
            raise FrameError("framing", "exception reply of wrong length")
        raise ModbusExceptionResponse(fc, response[1])
    if response[0] != fc:
        raise FrameError("framing", f"reply to function {response[0]}, asked {fc}")


def parse_read_response(request: bytes, response: bytes) -> list[int]:
    """Register values (or 0/1 bits) from the reply to ``request`` (a read request)."""
    check_read_response(request, response)
    return response_words(request, response)


def response_words(request: bytes, response: bytes) -> list[int]:
    """The values of a reply ``check_read_response`` passed."""
    fc, _address, count = struct.unpack(">BHH", request)
    if fc in (1, 2):
        return [(response[2 + i // 8] >> (i % 8)) & 1 for i in range(count)]
    return list(struct.unpack(f">{count}H", response[2:]))


def check_read_response(request: bytes, response: bytes) -> None:
    """Raise unless ``response`` is the reply to ``request`` (a read) with all it asked for:
    its data then starts at byte 2."""
    check_exception(request, response)
    fc, _address, count = struct.unpack(">BHH", request)
    if fc in (1, 2):
        size = (count + 7) // 8
        if len(response) != 2 + size or response[1] != size:
            raise FrameError("framing", "bit read reply of wrong length")
    elif len(response) != 2 + 2 * count or response[1] != 2 * count:
        raise FrameError("framing", f"register read reply of wrong length ({len(response)})")


def check_write_response(request: bytes, response: bytes) -> None:
    check_exception(request, response)
    if response[:5] != request[:5] or len(response) != 5:
        raise FrameError("framing", "write reply does not echo the request")


def response_pdu_size(request: bytes) -> int:
    """Bytes of the normal reply PDU to ``request`` (for the wire-time model)."""
    fc = request[0]
    if fc in READ_FC.values():
        count = int.from_bytes(request[3:5], "big")
        return 2 + ((count + 7) // 8 if fc in (1, 2) else 2 * count)
    return 5
