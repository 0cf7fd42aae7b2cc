"""The virtual card's answers and the reader slot settings (no reader needed)."""

from __future__ import annotations

import pytest

from edge_controller.sim.rfid import Slot, card_answer, frame, parse_slots, parse_uid

UID = bytes.fromhex("04A1B2C3")


def test_get_uid_answers_the_uid_and_success() -> None:
    assert card_answer(UID, bytes.fromhex("FFCA000000")) == UID + b"\x90\x00"


def test_other_reader_commands_succeed_and_card_commands_are_unsupported() -> None:
    assert card_answer(UID, bytes.fromhex("FF00480000")) == b"\x90\x00"
    assert card_answer(UID, bytes.fromhex("00A4040000")) == b"\x6d\x00"


def test_frames_carry_a_big_endian_length() -> None:
    assert frame(b"\x90\x00") == b"\x00\x02\x90\x00"


@pytest.mark.parametrize("text", ["04a1b2c3", "04:A1:B2:C3", "04 a1 b2 c3"])
def test_uid_spellings(text: str) -> None:
    assert parse_uid(text) == UID


@pytest.mark.parametrize("text", ["04A1B2", "04A1B2C3D4", "zz112233", ""])
def test_bad_uids_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_uid(text)


def test_reader_slots_from_text() -> None:
    slots = parse_slots("entrance=35963, exit=10.0.0.2:35964,")
    assert slots == {"entrance": Slot("127.0.0.1", 35963), "exit": Slot("10.0.0.2", 35964)}
    assert parse_slots("") == {}


@pytest.mark.parametrize("text", ["entrance", "=35963", "entrance=x", "entrance=70000"])
def test_bad_reader_slots_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_slots(text)
