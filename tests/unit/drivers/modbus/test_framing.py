"""RTU/ASCII/MBAP framing and PDU parsing against hand-computed frames."""

from __future__ import annotations

import pytest

from edge_controller.drivers.modbus import framing, pdu


def test_crc_of_a_known_frame() -> None:
    # 01 03 00 00 00 0A -> CRC C5 CD (low byte first on the wire), a widely published example.
    assert framing.rtu_frame(1, bytes.fromhex("030000000A")) == bytes.fromhex(
        "010300000 00AC5CD".replace(" ", "")
    )


def test_rtu_reply_size_and_unframe() -> None:
    body = bytes.fromhex("0103020102")
    frame = framing.rtu_frame(1, body[1:])
    assert framing.rtu_reply_size(frame[:3]) == len(frame)
    assert framing.rtu_unframe(1, frame) == body[1:]


def test_rtu_crc_error_and_wrong_unit() -> None:
    frame = bytearray(framing.rtu_frame(1, bytes.fromhex("03020102")))
    with pytest.raises(pdu.FrameError) as wrong_unit:
        framing.rtu_unframe(2, bytes(frame))
    assert wrong_unit.value.kind == "framing"
    frame[-1] ^= 0xFF
    with pytest.raises(pdu.FrameError) as bad_crc:
        framing.rtu_unframe(1, bytes(frame))
    assert bad_crc.value.kind == "crc"


def test_ascii_frame_and_reply_with_gt_start() -> None:
    request = framing.ascii_frame(1, bytes.fromhex("0300330003"))
    assert request == b":010300330003C6\r\n"
    assert framing.ascii_unframe(1, b">0103020102F7\r\n") == bytes.fromhex("03020102")


def test_ascii_lrc_error() -> None:
    with pytest.raises(pdu.FrameError) as bad:
        framing.ascii_unframe(1, b":0103020102F8\r\n")
    assert bad.value.kind == "crc"


def test_mbap_round_trip() -> None:
    frame = framing.mbap_frame(7, 180, bytes.fromhex("0400640001"))
    assert framing.mbap_reply_size(frame) == len(frame)
    assert framing.mbap_unframe(frame) == (7, 180, bytes.fromhex("0400640001"))


def test_read_reply_parsing_and_exceptions() -> None:
    request = pdu.read_request("input", 5, 2)
    assert pdu.parse_read_response(request, bytes.fromhex("040400070064")) == [7, 100]
    with pytest.raises(pdu.ModbusExceptionResponse) as exc:
        pdu.parse_read_response(request, bytes.fromhex("8402"))
    assert exc.value.code == 2
    with pytest.raises(pdu.FrameError):
        pdu.parse_read_response(request, bytes.fromhex("04020007"))


def test_coil_reply_bits() -> None:
    request = pdu.read_request("coil", 400, 3)
    assert pdu.parse_read_response(request, bytes.fromhex("010105")) == [1, 0, 1]


def test_write_echo_checked() -> None:
    request = pdu.write_register_request(261, 160)
    pdu.check_write_response(request, request)
    with pytest.raises(pdu.FrameError):
        pdu.check_write_response(request, pdu.write_register_request(261, 100))
