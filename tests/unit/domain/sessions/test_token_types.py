"""Which local list and cache entries speak for a token (``authorization.matches``): OCPP 2.x
names a token by its type and value, so a key code typed at the site and a card whose UID has
the same text are different tokens; an untyped entry (a 1.6 list) matches every token but a
key code."""

from __future__ import annotations

import pytest

from edge_controller.domain.model import Token
from edge_controller.domain.sessions.authorization import (
    AuthEntry,
    AuthStatus,
    matches,
    matching,
    token_type_of,
)

CODE = Token("12345678", key_code=True)
CARD = Token("12345678", extra={"source": "uid"})
GIVEN = Token("12345678")  # an id given over MQTT or the web, or by the CSMS: no type told


def _entry(kind: str | None) -> AuthEntry:
    return AuthEntry("12345678", AuthStatus.ACCEPTED, token_type=kind)


@pytest.mark.parametrize(
    ("token", "entry_type", "expected"),
    [
        (CODE, "KeyCode", True),
        (CODE, "ISO14443", False),
        (CODE, None, False),  # 1.6 has no key codes: an untyped entry is never one
        (CODE, "Local", False),
        (CARD, "KeyCode", False),
        (CARD, "ISO14443", True),
        (CARD, "ISO15693", True),  # a PC/SC reader reads both
        (CARD, None, True),
        (CARD, "eMAID", False),
        (CARD, "Local", False),
        (GIVEN, "KeyCode", False),
        (GIVEN, "Local", True),
        (GIVEN, "ISO14443", True),
        (GIVEN, None, True),
    ],
)
def test_an_entry_speaks_for_a_token_of_its_type(
    token: Token, entry_type: str | None, expected: bool
) -> None:
    assert matches(_entry(entry_type), token) is expected


def test_the_entry_of_the_tokens_own_type_is_taken_before_an_untyped_one() -> None:
    untyped = AuthEntry("12345678", AuthStatus.BLOCKED)
    card = AuthEntry("12345678", AuthStatus.ACCEPTED, token_type="ISO14443")
    code = AuthEntry("12345678", AuthStatus.INVALID, token_type="KeyCode")
    assert matching([untyped, code, card], CARD) == card
    assert matching([untyped, code, card], CODE) == code
    assert matching([untyped, code], CARD) == untyped
    assert matching([card], CODE) is None


def test_a_key_code_is_asked_about_as_a_key_code_and_the_rest_as_cards() -> None:
    assert token_type_of(CODE) == "KeyCode"
    assert token_type_of(CARD) == token_type_of(GIVEN) == "ISO14443"
