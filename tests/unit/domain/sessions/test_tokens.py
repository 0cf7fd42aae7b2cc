"""Token normalisation: UIDs, random UIDs, ATR ids, typed ids, the OCPP 1.6 length limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_controller.domain.sessions.tokens import (
    MAX_ID_TAG_CHARS,
    InvalidToken,
    atr_to_token,
    is_random_uid,
    may_cache,
    normalize_id_tag,
    text_to_token,
    uid_to_token,
)


@pytest.mark.parametrize(
    ("uid_hex", "id_tag"),
    [
        ("04a1b2c3", "04A1B2C3"),
        ("04a1b2c3d4e5f6", "04A1B2C3D4E5F6"),
        ("04a1b2c3d4e5f6071829", "04A1B2C3D4E5F6071829"),
    ],
)
def test_uid_becomes_upper_case_hex(uid_hex: str, id_tag: str) -> None:
    token = uid_to_token(bytes.fromhex(uid_hex), reader_id="r1")
    assert (token.id_tag, token.reader_id, token.random_uid) == (id_tag, "r1", False)


def test_reversed_reader_is_put_back_in_iso_order() -> None:
    assert uid_to_token(bytes.fromhex("c3b2a104"), reverse=True).id_tag == "04A1B2C3"


def test_random_uid_is_flagged_in_iso_order_and_never_cached() -> None:
    assert uid_to_token(bytes.fromhex("08a1b2c3")).random_uid
    reversed_random = uid_to_token(bytes.fromhex("c3b2a108"), reverse=True)
    assert reversed_random.random_uid and not may_cache(reversed_random)
    assert not is_random_uid(bytes.fromhex("08a1b2c3d4e5f6"))  # only 4-byte UIDs are random
    assert may_cache(uid_to_token(bytes.fromhex("04a1b2c3")))


@pytest.mark.parametrize("length", [0, 3, 11])
def test_uid_of_unusable_length_is_refused(length: int) -> None:
    with pytest.raises(InvalidToken, match="bytes"):
        uid_to_token(bytes(range(1, length + 1)))


def test_atr_id_is_stable_and_fits_an_id_tag() -> None:
    atr = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
    first, second = atr_to_token(atr, reader_id="r1"), atr_to_token(atr)
    assert first.id_tag == second.id_tag and first.id_tag.startswith("ATR")
    assert len(first.id_tag) <= MAX_ID_TAG_CHARS
    assert atr_to_token(atr[:-1]).id_tag != first.id_tag
    with pytest.raises(InvalidToken):
        atr_to_token(b"")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("  04a1b2c3\n", "04A1B2C3"),
        ("04:a1:b2:c3", "04A1B2C3"),
        ("04 A1 B2 C3", "04A1B2C3"),
        ("04-a1-b2-c3-d4-e5-f6", "04A1B2C3D4E5F6"),
        ("fleet-card 17", "FLEET-CARD 17"),
        ("A" * 20, "A" * 20),
    ],
)
def test_typed_ids_are_normalised(typed: str, expected: str) -> None:
    assert normalize_id_tag(typed) == expected
    assert text_to_token(typed).id_tag == expected


@pytest.mark.parametrize(
    ("typed", "message"),
    [("", "empty"), ("   ", "empty"), ("A" * 21, "at most 20"), ("tag\x00", "printable")],
)
def test_unusable_typed_ids_are_refused_clearly(typed: str, message: str) -> None:
    with pytest.raises(InvalidToken, match=message):
        normalize_id_tag(typed)


@given(st.binary(min_size=4, max_size=10), st.booleans())
def test_uid_and_typed_forms_compare_equal(uid: bytes, reverse: bool) -> None:
    token = uid_to_token(uid, reverse=reverse)
    assert normalize_id_tag(token.id_tag.lower()) == token.id_tag
    assert len(token.id_tag) == 2 * len(uid) <= MAX_ID_TAG_CHARS


def test_a_longer_limit_is_the_callers_and_is_kept_whole() -> None:
    """OCPP 2.x carries longer idTokens (2.0.1: 36, 2.1: 255); the default stays 1.6's 20."""
    uuid = "0f6c1a2e-5b7d-4c3e-9a8b-1d2e3f4a5b6c"
    with pytest.raises(InvalidToken):
        normalize_id_tag(uuid)
    assert normalize_id_tag(uuid, 36) == uuid.upper()
    with pytest.raises(InvalidToken, match="at most 36"):
        normalize_id_tag(uuid + "0", 36)
    assert len(normalize_id_tag("A" * 255, 255)) == 255
