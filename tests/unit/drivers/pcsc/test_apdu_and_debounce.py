"""GET UID answers, reader binding by name pattern, one token per tap, feedback APDUs."""

from __future__ import annotations

import pytest

from edge_controller.drivers.pcsc.apdu import UidStatus, get_uid_command, parse_uid_response
from edge_controller.drivers.pcsc.config import ReaderConfig, bind_readers
from edge_controller.drivers.pcsc.debounce import TapDetector
from edge_controller.drivers.pcsc.feedback import acr122_signal_apdu

UID = bytes.fromhex("04A1B2C3D4E5F6")


def test_get_uid_command() -> None:
    assert get_uid_command() == bytes.fromhex("FFCA000000")
    assert get_uid_command(7) == bytes.fromhex("FFCA000007")


@pytest.mark.parametrize(
    ("response_hex", "status", "uid_hex", "retry_le"),
    [
        ("04A1B2C3D4E5F69000", UidStatus.OK, "04A1B2C3D4E5F6", 0),
        ("04A1B2C36282", UidStatus.OK, "04A1B2C3", 0),
        ("6C07", UidStatus.RETRY, "", 7),
        ("6A81", UidStatus.UNSUPPORTED, "", 0),
        ("6E00", UidStatus.UNSUPPORTED, "", 0),
        ("6300", UidStatus.FAILED, "", 0),
        ("9000", UidStatus.FAILED, "", 0),  # success without a UID is no UID
        ("90", UidStatus.FAILED, "", 0),
    ],
)
def test_uid_responses(response_hex: str, status: UidStatus, uid_hex: str, retry_le: int) -> None:
    answer = parse_uid_response(bytes.fromhex(response_hex))
    assert (answer.status, answer.uid.hex().upper(), answer.retry_le) == (status, uid_hex, retry_le)


def test_readers_bind_by_pattern_each_to_its_own_name() -> None:
    configs = [
        ReaderConfig("a", "ACR122"),
        ReaderConfig("b", "ACR122"),
        ReaderConfig("c", "^Identiv"),
    ]
    names = ["ACS ACR122U PICC Interface 01 00", "ACS ACR122U PICC Interface 00 00"]
    assert bind_readers(configs, names) == {
        "a": "ACS ACR122U PICC Interface 00 00",
        "b": "ACS ACR122U PICC Interface 01 00",
        "c": None,
    }


def test_resting_card_is_read_once() -> None:
    detector = TapDetector()
    assert detector.observe(True, 1)
    assert detector.card_read(UID)
    assert not detector.observe(True, 1)
    assert not detector.observe(True, 1)


def test_lift_and_tap_again_is_a_new_tap() -> None:
    detector = TapDetector()
    assert detector.observe(True, 1) and detector.card_read(UID)
    assert not detector.observe(False, 2)
    assert detector.observe(True, 3) and detector.card_read(UID)


def test_lift_and_tap_between_two_looks_is_seen_by_the_event_count() -> None:
    detector = TapDetector()
    assert detector.observe(True, 1) and detector.card_read(UID)
    assert detector.observe(True, 3) and detector.card_read(UID)


def test_resting_card_found_again_after_a_loss_is_not_a_new_tap() -> None:
    detector = TapDetector()
    assert detector.observe(True, 5) and detector.card_read(UID)
    detector.lost()
    assert detector.observe(True, 1)
    assert not detector.card_read(UID)
    detector.lost()
    assert detector.observe(True, 1)
    assert detector.card_read(bytes.fromhex("04112233"))  # a different card: a tap


def test_failed_read_is_not_repeated_until_the_card_is_tapped_again() -> None:
    detector = TapDetector()
    assert detector.observe(True, 1)
    detector.read_failed()
    assert not detector.observe(True, 1)
    assert detector.observe(True, 3)


def test_acr122_feedback_apdus() -> None:
    accepted, rejected = acr122_signal_apdu(True), acr122_signal_apdu(False)
    assert accepted[:3] == rejected[:3] == bytes.fromhex("FF0040")
    assert accepted[3] & 0x80 and not accepted[3] & 0x40  # blinks green only
    assert rejected[3] & 0x40 and not rejected[3] & 0x80  # blinks red only
    assert len(accepted) == len(rejected) == 5 + accepted[4]
