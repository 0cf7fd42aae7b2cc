"""Per-client rate limits: a fixed budget per window, bounded memory."""

from __future__ import annotations

from edge_controller.web.limits import RateLimit
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
