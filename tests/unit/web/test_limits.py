"""Per-client rate limits: a fixed budget per window, bounded memory; wrong key codes per
connector."""

from __future__ import annotations

from edge_controller.web.limits import RateLimit, WrongCodes
from edge_controller.web.passwords import hash_password, verify_password


def test_a_client_gets_its_budget_per_window_and_others_are_not_affected() -> None:
    limit = RateLimit(3, 60.0)
    assert [limit.allow("a", t) for t in (0.0, 1.0, 2.0, 3.0)] == [True, True, True, False]
    assert limit.allow("b", 3.0)
    assert not limit.allow("a", 59.9)
    assert limit.allow("a", 60.5)  # the first event left the window


def test_a_flood_of_clients_is_forgotten_oldest_first() -> None:
    limit = RateLimit(1, 60.0, max_keys=100)
    for n in range(1000):
        limit.allow(f"client-{n}", 0.0)
    assert len(limit._seen) == 100
    assert limit.allow("client-0", 1.0)  # forgotten, so it starts over
    assert not limit.allow("client-999", 1.0)


def test_a_password_hash_verifies_only_its_password() -> None:
    stored = hash_password("correct horse")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct hors", stored)
    assert not verify_password("x", "scrypt$99999999$8$1$AAAA$AAAA")  # too costly: refused
    assert not verify_password("x", "not a hash")


def test_wrong_codes_lock_a_connector_out_for_a_while_and_a_right_one_clears_them() -> None:
    codes = WrongCodes(allowed=3, window_s=60.0, lockout_s=300.0)
    assert not codes.wrong("c1", 0.0) and not codes.wrong("c1", 1.0)
    codes.right("c1")  # a right code: the count starts again
    assert not codes.wrong("c1", 2.0) and not codes.wrong("c1", 3.0)
    assert codes.locked_for_s("c1", 3.0) == 0.0
    assert codes.wrong("c1", 4.0)  # the third within the window
    assert codes.locked_for_s("c1", 5.0) == 299.0
    assert codes.locked_for_s("c2", 5.0) == 0.0  # per connector
    assert codes.locked_for_s("c1", 304.0) == 0.0
    assert not codes.wrong("c1", 400.0)  # the lockout emptied the count


def test_wrong_codes_spread_beyond_the_window_lock_nothing() -> None:
    codes = WrongCodes(allowed=2, window_s=10.0, lockout_s=300.0)
    assert not codes.wrong("c1", 0.0)
    assert not codes.wrong("c1", 11.0)
    assert codes.wrong("c1", 12.0)
